// PreparedCode: code parsed and generated ahead of an update's pause is what a compile in
// the pause takes, as long as the class it is for keeps its shape.
#include <doctest/doctest.h>

#include "tests/unit/vm/RuntimeFixture.h"
#include "vm/ClassBuilder.h"
#include "vm/compiler/SourceLocation.h"

using vm::test::RuntimeFixture;

namespace {

// A global class Pair with `fields`, defining setFirst:second: and sum.
space::Handle definePair(RuntimeFixture& f, const std::vector<std::string>& fields) {
  vm::ClassBuilder& classes = f.rt->classes();
  space::Handle cls(f.space, classes.createClass("Pair", f.rt->globals().at(f.rt->symbol("Object")), fields, {}));
  classes.installGlobal(cls.get());
  return cls;
}

const char* kSetter = "setFirst: a second: b = ( first := a. second := b )";
const char* kSum = "sum = ( ^ first + second )";

void install(RuntimeFixture& f, const space::Handle& cls, const char* source) {
  vm::ClassBuilder& classes = f.rt->classes();
  classes.installMethod(cls.get(), classes.compileMethodSource(cls.get(), source, "<Pair>"));
}

}  // namespace

TEST_CASE("a method prepared ahead is what its compile takes") {
  RuntimeFixture f;
  vm::ClassBuilder& classes = f.rt->classes();
  space::Handle pair = definePair(f, {"first", "second"});
  classes.prepareMethodSource(pair.get(), kSetter, "<Pair>");
  classes.prepareMethodSource(pair.get(), kSum, "<Pair>");
  classes.prepareMethodSource(pair.get(), kSum, "<Pair>");  // once is enough
  CHECK(classes.preparedCount() == 2);
  size_t taken = classes.preparedTaken();
  install(f, pair, kSetter);
  install(f, pair, kSum);
  CHECK(classes.preparedTaken() == taken + 2);
  CHECK(f.eval("(Pair new setFirst: 3 second: 4) sum") == "7");
  // Another file name is another context: compiled afresh, the same code.
  classes.installMethod(pair.get(), classes.compileMethodSource(pair.get(), kSum, "elsewhere"));
  CHECK(classes.preparedTaken() == taken + 2);
  CHECK(f.eval("(Pair new setFirst: 3 second: 5) sum") == "8");
  classes.forgetPrepared();
  CHECK(classes.preparedCount() == 0);
}

TEST_CASE("a class whose shape changed after the preparation gets its code compiled afresh") {
  RuntimeFixture f;
  vm::ClassBuilder& classes = f.rt->classes();
  space::Handle before = definePair(f, {"first", "second"});
  classes.prepareMethodSource(before.get(), kSetter, "<Pair>");
  classes.prepareMethodSource(before.get(), kSum, "<Pair>");
  // Redefined with a field in front: code prepared for the old shape reads the wrong slots.
  space::Handle after = definePair(f, {"extra", "first", "second"});
  REQUIRE(after.get() != before.get());
  size_t taken = classes.preparedTaken();
  install(f, after, kSetter);
  install(f, after, kSum);
  CHECK(classes.preparedTaken() == taken);
  CHECK(f.eval("(Pair new setFirst: 3 second: 4) sum") == "7");
}

TEST_CASE("code that does not compile is not prepared; its compile reports the error") {
  RuntimeFixture f;
  vm::ClassBuilder& classes = f.rt->classes();
  space::Handle pair = definePair(f, {"first", "second"});
  classes.prepareMethodSource(pair.get(), "broken = ( ^ first + )", "<Pair>");
  CHECK(classes.preparedCount() == 0);
  CHECK_THROWS_AS(classes.compileMethodSource(pair.get(), "broken = ( ^ first + )", "<Pair>"), vm::CompileError);
}

TEST_CASE("statements evaluated with parameters, prepared ahead or not") {
  RuntimeFixture f;
  vm::ClassBuilder& classes = f.rt->classes();
  space::Handle three(f.space, space::Oop::fromSmallInteger(3));
  space::Handle four(f.space, space::Oop::fromSmallInteger(4));
  std::vector<space::Handle> arguments = {three, four};
  const char* source = "| s | s := a * 10. ^ s + b";
  CHECK(f.rt->evaluate(source, {"a", "b"}, arguments).smallInteger() == 34);
  size_t taken = classes.preparedTaken();
  f.rt->prepareEvaluation(source, {"a", "b"});
  CHECK(classes.preparedCount() == 1);
  CHECK(f.rt->evaluate(source, {"a", "b"}, arguments).smallInteger() == 34);
  CHECK(classes.preparedTaken() == taken + 1);
  // The same text with other parameter names is other code.
  f.rt->prepareEvaluation(source, {"b", "a"});
  CHECK(f.rt->evaluate(source, {"b", "a"}, arguments).smallInteger() == 43);
  CHECK(classes.preparedTaken() == taken + 2);
  CHECK_THROWS_AS(f.rt->evaluate(source, {"a"}, arguments), std::invalid_argument);
}
