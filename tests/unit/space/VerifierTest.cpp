// HeapVerifier: catches planted corruption, above all references that leave their space.
#include "tests/unit/space/TestHeap.h"

using namespace space;
using space::test::TestHeap;

namespace {
bool mentions(const VerificationReport& r, const std::string& what) {
  for (const std::string& e : r.errors) {
    if (e.find(what) != std::string::npos) return true;
  }
  return false;
}
}  // namespace

TEST_CASE("a healthy heap verifies") {
  TestHeap h;
  Handle a(h.space, h.array(10, Tenure::Old));
  for (int i = 0; i < 10; i++) h.space.storePointer(a.get(), size_t(i), h.point(i, i));
  VerificationReport r = verifyHeap(h.space);
  INFO(r.summary());
  CHECK(r.ok());
  CHECK(r.objectsChecked > 10);
}

TEST_CASE("the verifier catches a planted cross-space reference") {
  TestHeap guest(space::test::smallConfig("guest"));
  TestHeap host(space::test::smallConfig("hypervisor"));
  Handle holder(guest.space, guest.array(3, Tenure::Old));
  Oop foreign = host.point(1, 2, Tenure::Old);
  // Bypass every API: write the other space's address straight into a slot.
  holder.get().object()->slots()[1] = foreign;
  VerificationReport r = verifyHeap(guest.space);
  CHECK_FALSE(r.ok());
  CHECK(mentions(r, "points outside space 'guest'"));
  CHECK(mentions(r, "slot 1"));
  holder.get().object()->slots()[1] = guest.space.nil();
  CHECK(verifyHeap(guest.space).ok());
}

TEST_CASE("the verifier catches interior pointers, bad class indexes and missing remembered bits") {
  TestHeap h;
  Handle holder(h.space, h.array(3, Tenure::Old));
  // Held: in GC stress builds the allocation below collects, and would free them.
  Handle p(h.space, h.point(1, 2, Tenure::Old));
  Handle q(h.space, h.point(3, 4, Tenure::Old));
  Oop young = h.point(5, 6);
  // The damage comes after the last allocation: a collection (or, in GC stress builds, a
  // marking's step) must not walk a heap damaged on purpose.
  holder.get().object()->slots()[0] = Oop::fromBits(p.get().bits() + 8);
  q.get().object()->setClassIndex(4000);
  holder.get().object()->slots()[2] = young;  // no barrier
  VerificationReport r = verifyHeap(h.space);
  CHECK(mentions(r, "is not the start of an object"));
  CHECK(mentions(r, "class index not in the class table"));
  CHECK(mentions(r, "not remembered"));
}
