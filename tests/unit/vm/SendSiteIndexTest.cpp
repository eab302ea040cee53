// The send-site index: once built, a method change clears exactly the inline caches of
// the sites that send its selector, for code made before and after the index was built;
// full collections drop the arrays of dead code; identity swaps and rollbacks make it
// invalid, and invalidation still works by walking every method.
#include <doctest/doctest.h>

#include "space/SpaceCheckpoint.h"
#include "tests/unit/vm/RuntimeFixture.h"
#include "vm/ClassBuilder.h"
#include "vm/RuntimeCheckpoint.h"

using vm::test::RuntimeFixture;

namespace {

// A class IndexProbe whose `caller` sends `answer` (and, in a block, `other`): the sites
// whose caches a change of `answer` must clear.
struct Probe {
  RuntimeFixture& f;
  vm::ClassBuilder& classes;
  space::Handle cls;

  explicit Probe(RuntimeFixture& fixture)
      : f(fixture),
        classes(fixture.rt->classes()),
        cls(fixture.space,
            classes.createClass("IndexProbe", fixture.rt->globals().at(fixture.rt->symbol("Object")), {}, {})) {
    classes.installGlobal(cls.get());
    define("answer = ( ^ 1 )");
    define("other = ( ^ 10 )");
    define("caller = ( ^ self answer + ([ self other ] value) )");
  }
  void define(const char* source) {
    classes.installMethod(cls.get(), classes.compileMethodSource(cls.get(), source, "test"));
  }
  std::string call() { return f.eval("IndexProbe new caller"); }
};

}  // namespace

TEST_CASE("a built send-site index clears the caches of the sites that send a changed selector") {
  RuntimeFixture f;
  Probe p(f);
  vm::ClassBuilder& classes = f.rt->classes();
  CHECK_FALSE(classes.sendSiteIndex().valid());  // built on demand, before an update
  classes.prepareForUpdate();
  REQUIRE(classes.sendSiteIndex().valid());
  size_t arrays = classes.sendSiteIndex().arrays();
  CHECK(arrays > 1000);     // the kernel's methods and blocks
  CHECK(p.call() == "11");  // the caches of caller's sites are filled
  p.define("answer = ( ^ 2 )");
  CHECK(p.call() == "12");
  // In a batch, as an update makes its changes: one invalidation at its end.
  classes.beginBatch();
  p.define("answer = ( ^ 3 )");
  p.define("other = ( ^ 30 )");
  classes.endBatch();
  CHECK(p.call() == "33");
  // Code made after the index was built is listed too.
  p.define("caller = ( ^ self answer * ([ self other ] value) )");
  CHECK(classes.sendSiteIndex().arrays() > arrays);
  CHECK(p.call() == "90");
  p.define("other = ( ^ 5 )");
  CHECK(p.call() == "15");
  CHECK(classes.sendSiteIndex().valid());
}

TEST_CASE("a full collection drops dead code from the send-site index, which stays valid") {
  RuntimeFixture f;
  Probe p(f);
  vm::ClassBuilder& classes = f.rt->classes();
  classes.prepareForUpdate();
  size_t built = classes.sendSiteIndex().arrays();
  CHECK(p.call() == "11");
  // Replaced callers retire; once nothing runs or refers to them, a collection frees them
  // (each caller and its block: 40 arrays).
  for (int i = 0; i < 20; i++) p.define("caller = ( ^ self answer + ([ self other ] value) )");
  if (!f.space.config().gcStress) CHECK(classes.sendSiteIndex().arrays() >= built + 20 * 2);
  REQUIRE(f.space.collectGarbage());
  CHECK(classes.sendSiteIndex().valid());
  CHECK(classes.sendSiteIndex().arrays() < built + 20);
  CHECK(p.call() == "11");
  p.define("answer = ( ^ 7 )");
  CHECK(p.call() == "17");
}

TEST_CASE("identity swaps and rollbacks make the send-site index invalid; invalidation then walks every method") {
  RuntimeFixture f;
  Probe p(f);
  vm::ClassBuilder& classes = f.rt->classes();
  classes.prepareForUpdate();
  CHECK(p.call() == "11");
  {
    vm::RuntimeCheckpoint checkpoint(*f.rt);
    p.define("caller = ( ^ self answer - ([ self other ] value) )");
    checkpoint.rollback();
  }
  CHECK_FALSE(classes.sendSiteIndex().valid());
  p.define("answer = ( ^ 4 )");
  CHECK(p.call() == "14");
  classes.prepareForUpdate();
  REQUIRE(classes.sendSiteIndex().valid());
  {
    space::Handle a(f.space, vm::newArray(*f.rt, 1)), b(f.space, vm::newArray(*f.rt, 2));
    space::Oop as[] = {a.get()}, bs[] = {b.get()};
    f.space.swapIdentities(as, bs);
  }
  CHECK_FALSE(classes.sendSiteIndex().valid());
  p.define("answer = ( ^ 5 )");
  CHECK(p.call() == "15");
}

TEST_CASE("the pages a method change writes, made writable ahead of the checkpoint, take no fault in it") {
  RuntimeFixture f;
  Probe p(f);
  vm::ClassBuilder& classes = f.rt->classes();
  classes.prepareForUpdate();
  CHECK(p.call() == "11");  // caller's sites cache answer and other
  space::Oop answer = f.space.symbols().lookup("answer");
  REQUIRE_FALSE(answer.isNull());
  std::vector<space::Oop> selectors = {answer};
  std::vector<uintptr_t> pages = classes.pagesOfCachingSites(selectors);
  // Every site that sends answer and caches a lookup is on a page listed.
  size_t caching = 0;
  classes.sendSiteIndex().forEachArraySending(answer, [&](space::Oop sites) {
    const space::Oop* site = sites.object()->slots();
    for (size_t i = 0; i + vm::send_site::kSlots <= sites.object()->slotCount(); i += vm::send_site::kSlots) {
      if (site[i + vm::send_site::kSelector] != answer || site[i + vm::send_site::kClass0].smallInteger() == 0)
        continue;
      caching++;
      uintptr_t page = reinterpret_cast<uintptr_t>(site + i) & ~uintptr_t(space::Reservation::kPageSize - 1);
      CHECK(std::find(pages.begin(), pages.end(), page) != pages.end());
    }
  });
  CHECK(caching >= 1);
  std::vector<uintptr_t> dictionary = classes.pagesOfMethodDictionary(p.cls.get());
  space::Oop dict = p.cls.get().object()->slot(vm::class_slot::kMethodDictionary);
  CHECK(std::find(dictionary.begin(), dictionary.end(),
                  reinterpret_cast<uintptr_t>(dict.object()) & ~uintptr_t(space::Reservation::kPageSize - 1)) !=
        dictionary.end());
  pages.insert(pages.end(), dictionary.begin(), dictionary.end());
  space::WriteTracker::fillSpareChunks();  // what the checkpoint copies them into
  f.space.armCheckpoint();
  f.space.writeAheadOfCheckpoint(pages);
  {
    vm::RuntimeCheckpoint cp(*f.rt);
    classes.beginBatch();
    p.define("answer = ( ^ 4 )");
    classes.endBatch();
    // Collecting at every allocation disarms the checkpoint: its pages then fault as usual.
    if (!f.space.config().gcStress) CHECK(cp.spaceCheckpoint().faultsTaken() == 0);
    CHECK(p.call() == "14");
    cp.rollback();
  }
  CHECK(p.call() == "11");  // the rollback restored the dictionary and the caches
}
