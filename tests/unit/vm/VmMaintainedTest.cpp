// What the VM maintains in its objects (VmMaintained in vm/ObjectLayouts.h): the instance
// spec records it, subclasses inherit it, and code loaded after the kernel can neither
// assign those fields nor bind a primitive where its receiver could be something else.
#include "tests/unit/vm/RuntimeFixture.h"
#include "vm/ClassLoader.h"
#include "vm/ObjectLayouts.h"
#include "vm/compiler/SourceLocation.h"

using vm::test::RuntimeFixture;

namespace {

// The CompileError message of loading [source], or "" when it loads.
std::string loadError(RuntimeFixture& f, const std::string& source) {
  try {
    f.rt->loader().loadSource(source, "Test.som");
    return "";
  } catch (const vm::CompileError& e) {
    return e.what();
  }
}

vm::VmMaintained maintainedOf(RuntimeFixture& f, const char* global) {
  vm::Oop cls = f.rt->globals().at(f.rt->symbol(global));
  REQUIRE(vm::isClass(*f.rt, cls));
  return vm::InstanceSpec::maintained(cls.object()->slot(vm::class_slot::kInstanceSpec).smallInteger());
}

}  // namespace

TEST_CASE("the instance spec keeps format, fields and what the VM maintains apart") {
  vm::VmMaintained vm{true, 3, true};
  int64_t spec = vm::InstanceSpec::pack(uint8_t(space::Format::FixedIndexable), 7, vm);
  CHECK(vm::InstanceSpec::format(spec) == uint8_t(space::Format::FixedIndexable));
  CHECK(vm::InstanceSpec::fixedFields(spec) == 7);
  CHECK(vm::InstanceSpec::maintained(spec).creation);
  CHECK(vm::InstanceSpec::maintained(spec).fields == 3);
  CHECK(vm::InstanceSpec::maintained(spec).indexed);
  int64_t plain = vm::InstanceSpec::pack(uint8_t(space::Format::Fixed), 2);
  CHECK_FALSE(vm::InstanceSpec::maintained(plain).any());
  CHECK(vm::InstanceSpec::fixedFields(plain) == 2);
}

TEST_CASE("kernel classes record what the VM maintains and subclasses inherit it") {
  RuntimeFixture f;
  CHECK(maintainedOf(f, "Block").creation);
  CHECK(maintainedOf(f, "Block").fields == vm::closure_slot::kFirstCopied);
  CHECK(maintainedOf(f, "Block").indexed);
  CHECK(maintainedOf(f, "Block1").indexed);
  CHECK(maintainedOf(f, "Process").fields == vm::process_slot::kCount);
  CHECK_FALSE(maintainedOf(f, "Semaphore").creation);
  CHECK(maintainedOf(f, "Semaphore").fields == vm::list_slot::kExcessSignals + 1);
  CHECK_FALSE(maintainedOf(f, "Array").any());
  CHECK_FALSE(maintainedOf(f, "Object").any());
  REQUIRE(loadError(f, "Queue = LinkedList ( | count | count: n = ( count := n ) first = ( ^ firstLink ) )") == "");
  CHECK(maintainedOf(f, "Queue").fields == 2);
  CHECK_FALSE(maintainedOf(f, "Queue").creation);
  REQUIRE(loadError(f, "MyProcess = Process ( )") == "");
  CHECK(maintainedOf(f, "MyProcess").creation);
  CHECK(f.eval("[ MyProcess new ] on: Error do: [ :e | e messageText ]") ==
        "MyProcess new: processes are made from blocks (aBlock newProcess, aBlock fork)");
  // A class's own fields stay its own.
  CHECK(f.eval("Queue new count: 3; instVarAt: 3") == "3");
}

TEST_CASE("code loaded after the kernel cannot assign a field the VM maintains") {
  RuntimeFixture f;
  CHECK(loadError(f, "Q1 = LinkedList ( reset = ( firstLink := nil ) )") ==
        "Test.som:1:29: 'firstLink' is a field the VM maintains: it can be read but not assigned");
  CHECK(loadError(f, "Q2 = ( ---- forget = ( superclass := nil ) )") ==
        "Test.som:1:24: 'superclass' is a field the VM maintains: it can be read but not assigned");
  CHECK(loadError(f, "Q3 = ( | superclass | ---- broken = ( ^ superclass ) set = ( ^ name ) )") == "");
  // A class-side variable of the same name is the class's own.
  CHECK(loadError(f, "Q4 = ( ---- | name | rename = ( name := 'mine' ) )") == "");
}

TEST_CASE("a primitive is bound only where its receiver is what it reads, with its arguments") {
  RuntimeFixture f;
  CHECK(loadError(f, "P1 = ( root = ( <primitive: 'Double>>sqrt'> ^ 0 ) )") ==
        "Test.som:1:8: primitive 'Double>>sqrt' belongs to Double: it cannot be bound in P1, which does not "
        "inherit from Double");
  CHECK(loadError(f, "P2 = ( perform: s with: a = ( <primitive: 'Object>>perform:with:with:'> ^ 0 ) )") ==
        "Test.som:1:8: primitive 'Object>>perform:with:with:' takes 3 argument(s), but perform:with: has 2");
  CHECK(loadError(f, "P3 = ( x = ( <primitive: 'Nowhere>>x'> ) )").find("no primitive named") != std::string::npos);
  // Allowed: a subclass of the primitive's class, an unqualified primitive, Object's.
  CHECK(loadError(f, "P4 = Array ( item: i = ( <primitive: 'Array>>at:'> ^ nil ) )") == "");
  CHECK(loadError(f, "P5 = ( copy = ( <primitive: 'shallowCopy'> ^ nil ) )") == "");
  CHECK(loadError(f, "P6 = ( same: x = ( <primitive: 'Object>>=='> ^ false ) )") == "");
  CHECK(f.eval("P5 new copy class name") == "P5");
}
