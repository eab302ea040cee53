// Interpreter: a table of expressions and the asString of their values. The count check
// makes a forgotten or duplicated row fail.
#include <cstring>

#include "tests/unit/vm/RuntimeFixture.h"
#include "vm/ClassBuilder.h"
#include "vm/ClassLoader.h"
#include "vm/Disassembler.h"
#include "vm/Scheduler.h"
#include "vm/compiler/SourceLocation.h"

using vm::test::RuntimeFixture;

namespace {

struct Case {
  const char* source;
  const char* expected;
};

constexpr Case kCases[] = {
    // Literals and arithmetic (SmallInteger fast paths and overflow into LargeIntegers)
    {"3 + 4", "7"},
    {"3 - 10", "-7"},
    {"6 * 7", "42"},
    {"7 / 2", "3"},
    {"-7 / 2", "-4"},
    {"-7 % 2", "1"},
    {"-7 rem: 2", "-1"},
    {"4611686018427387903 + 1", "4611686018427387904"},
    {"(4611686018427387903 + 1) - 1", "4611686018427387903"},
    {"-4611686018427387904 - 1", "-4611686018427387905"},
    {"1 << 70", "1180591620717411303424"},
    {"(1 << 70) >> 69", "2"},
    {"100 factorial / 98 factorial", "9900"},
    {"(2 raisedTo: 64) - (2 raisedTo: 64)", "0"},
    {"16rFF + 2r101", "260"},
    {"$a value", "97"},
    // Doubles: immediate and boxed
    {"0.5 + 0.25", "0.75"},
    {"1 // 4", "0.25"},
    {"1.0e300 * 10", "1.0e301"},
    {"(1.0e300 * 10) / 10", "1.0e300"},
    {"2.5 round", "3"},
    {"3 < 4.5", "true"},
    {"4.5 < 3", "false"},
    // Double chains (float_chain), // and paired instructions
    {"| x | x := 1.5. x * 2.0 + 0.25 - x", "1.75"},
    {"| x | x := 1.0e300. (x * 10.0 + x) / 11.0", "1.0e300"},
    {"| x y | x := 0.5. y := 3. (x * y * y > 4.0) printString + (x // y) printString", "true0.16666666666666666"},
    {"| x y | x := 4611686018427387903. y := 1. x + y", "4611686018427387904"},
    // A chain stored into a temporary goes on with the next statement (chain_restart)
    {"| x y z | x := 1.5. y := x * x. z := 2.0 * y - x. z + y", "5.25"},
    {"| x y | x := 1.0e300 * 10.0. y := x * 0.5. y + x", "1.5e301"},
    // Comparisons and identity
    {"3 = 3", "true"},
    {"3 ~= 4", "true"},
    {"'abc' = 'abc'", "true"},
    {"'abc' == 'abc' copy", "false"},
    {"#abc == 'abc' asSymbol", "true"},
    {"nil isNil", "true"},
    // Inlined control structures
    {"3 > 2 ifTrue: [1] ifFalse: [2]", "1"},
    {"nil ifNil: [5]", "5"},
    {"7 ifNil: [5] ifNotNil: [:x | x * 2]", "14"},
    {"| s | s := 0. 1 to: 10 do: [:i | s := s + i]. s", "55"},
    {"| s | s := 0. 10 downTo: 1 by: 3 do: [:i | s := s + i]. s", "22"},
    {"| i | i := 0. [i < 5] whileTrue: [i := i + 1]. i", "5"},
    {"| n | n := 0. 4 timesRepeat: [n := n + 2]. n", "8"},
    {"true and: [false]", "false"},
    {"false or: [true]", "true"},
    // Blocks and closures
    {"[:a :b | a + b] value: 1 value: 2", "3"},
    {"| b | b := [:x | x * x]. (b value: 3) + (b value: 4)", "25"},
    {"| c | c := 0. #(1 2 3) do: [:e | c := c + e]. c", "6"},
    {"(#(3 1 2) collect: [:e | e * 10]) asString", "Array (30 10 20)"},
    {"#(1 2 3 4) inject: 0 into: [:a :e | a + e]", "10"},
    // Cascades and literal arrays
    {"(Vector new append: 1; append: 2) size", "2"},
    {"#(1 #(2 3) foo $a 'str') size", "5"},
    {"(#(1 #(2 3)) at: 2) at: 2", "3"},
    {"#[1 2 255] at: 3", "255"},
    // Strings, symbols
    {"'abc' + 'def'", "abcdef"},
    {"('hello' at: 1) value", "104"},
    {"#at:put: numArgs", "2"},
    {"'a,b,c' split: ','", "Array (a b c)"},
    // Exceptions and unwinding
    {"[1 / 0] on: ZeroDivide do: [:e | 'caught']", "caught"},
    {"[Error new signal: 'x'. 1] on: Error do: [:e | e return: 2]", "2"},
    {"[(Warning new signal: 'w') + 1] on: Warning do: [:e | e resume: 41]", "42"},
    {"| log | log := ''. [[1 / 0] ensure: [log := log + 'e']] on: ZeroDivide do: [:e | log := log + 'h']. log", "he"},
    {"| n | n := 0. [n := n + 1. n < 3 ifTrue: [Error signal]. n] on: Error do: [:e | e retry]", "3"},
    {"[nil foo] on: MessageNotUnderstood do: [:e | e message selector]", "foo"},
    // Reflection
    {"3 class name", "Integer"},
    {"3 class class name", "Integer class"},
    {"(3 perform: #+ withArguments: #(4))", "7"},
    {"3 respondsTo: #printString:", "true"},
    {"Object superclass", "nil"},
};

}  // namespace

TEST_CASE("the interpreter evaluates the table of expressions") {
  static_assert(sizeof(kCases) / sizeof(kCases[0]) == 68, "update the count when adding cases");
  RuntimeFixture f;
  for (const Case& c : kCases) {
    INFO(std::string(c.source));
    CHECK(f.eval(c.source) == c.expected);
  }
  f.verify();
}

TEST_CASE("printing goes to the runtime's output") {
  RuntimeFixture f;
  f.rt->evaluate("'hello' println. 42 println");
  CHECK(f.output() == "hello\n42\n");
}

TEST_CASE("many evaluations in one runtime leave a consistent heap") {
  RuntimeFixture f;
  for (int i = 0; i < 200; i++) {
    CHECK(f.eval("| a | a := Array new: 100. 1 to: 100 do: [:k | a at: k put: k printString]. (a at: 100)") == "100");
  }
  f.space.collectGarbage();
  f.verify();
}

TEST_CASE("the disassembler shows // and paired instructions with their operands and selectors") {
  RuntimeFixture f;
  space::Oop cls = f.rt->loader().loadSource(R"som(Listed = (
      run: c = ( | a b | a := 1. b := 2. ^ (a + b) < (a - -3) // c )))som",
                                             "Listed.som");
  REQUIRE(!cls.isNull());
  std::string listing = vm::disassembleClass(*f.rt, cls);
  INFO(listing);
  CHECK(listing.find("PushTempPushTempSendAdd 0 1 0  ; #+") != std::string::npos);
  CHECK(listing.find("PushTempPushSmallIntegerSendSubtract 0 -3 1  ; #-") != std::string::npos);
  CHECK(listing.find("SendDoubleDivide 3  ; #//") != std::string::npos);
}

TEST_CASE("the disassembler shows where jumps land, forward and back") {
  RuntimeFixture f;
  space::Oop cls = f.rt->loader().loadSource(R"som(Looped = (
      run: c = ( | i | i := 0. [ i < c ] whileTrue: [ i := i + 1 ]. ^ i )))som",
                                             "Looped.som");
  REQUIRE(!cls.isNull());
  std::string listing = vm::disassembleClass(*f.rt, cls);
  INFO(listing);
  // The loop's test at 4 (after "i := 0", two 2-byte instructions); its exit at 22, the
  // "^ i" after the loop's 3-byte JumpBack at 19.
  CHECK(listing.find("19  JumpBack  ; to 4") != std::string::npos);
  CHECK(listing.find("9  JumpIfFalse  ; to 22") != std::string::npos);
}

TEST_CASE("a class defined again: every send site that cached its old methods finds the new ones") {
  RuntimeFixture f;
  f.rt->loader().loadSource("Twice = ( a = ( ^ 1 ) b = ( ^ 2 ) ---- c = ( ^ 3 ) )", "Twice.som");
  // Sends that fill their inline caches with the first definitions.
  const std::string sends = "| t | t := Twice new. ((t a) * 100) + ((t b) * 10) + Twice c";
  CHECK(f.eval(sends) == "123");
  CHECK(f.eval(sends) == "123");
  // Installed in one batch: one pass over the send sites for the three methods.
  size_t passes = f.rt->classes().invalidationPasses();
  f.rt->loader().loadSource("Twice = ( a = ( ^ 4 ) b = ( ^ 5 ) ---- c = ( ^ 6 ) )", "Twice.som");
  CHECK(f.rt->classes().invalidationPasses() == passes + 1);
  CHECK(!f.rt->classes().batching());
  CHECK(f.eval(sends) == "456");
  // A method that does not compile stops the definition; those installed before it are
  // installed, and no site still answers their old versions.
  CHECK_THROWS_AS(f.rt->loader().loadSource("Twice = ( a = ( ^ 7 ) b = ( | x x | ^ 8 ) )", "Twice.som"),
                  vm::CompileError);
  CHECK(!f.rt->classes().batching());
  CHECK(f.eval("Twice new a") == "7");
}

TEST_CASE("an evaluation leaves the heartbeat's thread suspended, and the next one resumes it") {
  RuntimeFixture f;
  CHECK(!f.rt->scheduler().heartbeatRunning());
  CHECK(f.eval("3 + 4") == "7");
  // Parked rather than joined: the next evaluation does not start a thread.
  CHECK(f.rt->scheduler().heartbeatRunning());
  CHECK(f.rt->scheduler().heartbeatSuspended());
  CHECK(f.eval("(Delay forMilliseconds: 5) wait. 'waited'") == "waited");
  CHECK(f.rt->scheduler().heartbeatSuspended());
  // A program run afterwards has its ticks.
  f.rt->scheduler().startHeartbeat();
  CHECK(!f.rt->scheduler().heartbeatSuspended());
  f.rt->scheduler().stopHeartbeat();
  CHECK(!f.rt->scheduler().heartbeatRunning());
}
