// SpaceMirror: the mirror MOP over one space (docs/ARCHITECTURE.md, "mop/") — how the hypervisor
// loads code into the guest, migrates its instances, manipulates its processes and frames
// and reconfigures its VM interface. Objects of the mirrored space are held through
// space::Handle (entries of that space's handle table), never as raw oops, so nothing of
// it leaks into the caller's space and everything held follows moves and identity swaps.
//
// Every operation first validates all its arguments and throws MirrorError when one is
// wrong, leaving the space unchanged. Operations that change the space require it to be
// quiescent (paused by the hypervisor, or not running at all). Method caches and inline
// caches are invalidated exactly as a change requires.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mop/MirrorError.h"
#include "space/Handle.h"
#include "vm/Runtime.h"

namespace mop {

using Ref = space::Handle;

// How instances of a new class are laid out.
enum class InstanceFormat { Fixed, Indexable, Bytes, Words };

// One activation of a process, innermost first (depth 0).
struct FrameView {
  size_t depth = 0;
  Ref method;  // the home method (for a block frame: the method the block is in)
  Ref code;    // what runs in the frame: the method, or the CompiledBlock
  Ref receiver;
  int64_t pc = 0;
  int line = 0;
  bool isBlock = false;
  std::string selector;
  std::string description;  // "[] in Class>>selector (line N)"
  std::vector<Ref> arguments;
  std::vector<Ref> temporaries;  // including copied values of a block
  // The names of the arguments, then of the temporaries, from the debug info (one per
  // value for code this compiler made); empty when the code has none or they do not
  // match the frame's values one for one (code from an older image).
  std::vector<std::string> valueNames;
};

enum class ProcessStatus { Running, Ready, Waiting, Suspended, Paused, Terminated, Terminating };

// What the mutating operations of a mirror changed since the counts were last reset
// (an update's record reports them).
struct ChangeCounts {
  size_t classes = 0;    // created and installed, removed, re-parented
  size_t methods = 0;    // installed or removed
  size_t instances = 0;  // whose identity or class changed (pairs swapped, objects forwarded)
};

// Where a field of an instance's new version comes from (newInstanceVersions).
struct FieldSource {
  enum class Kind { Nil, OldField, Value };
  Kind kind = Kind::Nil;
  size_t oldField = 0;  // OldField: 1-based field of the old instance
  Ref value;            // Value: the same object for every instance
};

struct ProcessView {
  Ref process;
  std::string name;
  int priority = 0;
  ProcessStatus status = ProcessStatus::Suspended;
};

class SpaceMirror {
 public:
  explicit SpaceMirror(vm::Runtime& runtime);

  vm::Runtime& runtime() const { return rt_; }
  space::Space& space() const { return rt_.space(); }

  // ---- values that cross (immediates and copies) ----------------------------------------
  Ref nil() const;
  Ref integer(int64_t value) const;
  Ref string(std::string_view text) const;
  Ref symbol(std::string_view text) const;
  std::optional<int64_t> integerValue(const Ref& object) const;
  std::optional<std::string> stringValue(const Ref& object) const;  // String or Symbol
  // A description that runs no code of the space: "a Point", "42", "'text'", "Point".
  std::string describe(const Ref& object) const;
  bool same(const Ref& a, const Ref& b) const { return a.get() == b.get(); }
  Ref hold(space::Oop object) const { return Ref(space(), object); }

  // ---- code loading -------------------------------------------------------------------
  std::optional<Ref> findClass(std::string_view name) const;
  Ref classNamed(std::string_view name) const;  // MirrorError when there is none
  // A new class, not bound to a global until installClass.
  Ref createClass(std::string_view name, const Ref& superclass, const std::vector<std::string>& instanceVariables,
                  InstanceFormat format = InstanceFormat::Fixed);
  void installClass(const Ref& cls);
  // Unbinds the global (code that refers to it then sees an undefined global).
  void removeClass(std::string_view name);
  std::string className(const Ref& cls) const;
  Ref superclassOf(const Ref& cls) const;
  Ref metaclassOf(const Ref& cls) const;
  std::vector<std::string> instanceVariableNames(const Ref& cls) const;
  std::vector<std::string> selectors(const Ref& cls) const;
  std::optional<Ref> methodAt(const Ref& cls, std::string_view selector) const;
  // Compiles `source` (a method definition "selector = ( ... )" or "keyword: arg = ...")
  // for `cls`, binding names to the space's globals; the method is not installed.
  Ref compileMethod(const Ref& cls, std::string_view source);
  // Parses and generates now what compileMethod(cls, source) will compile in an update's
  // pause (vm::PreparedCode): reads the space, allocates nothing, so the space need not
  // be paused.
  void prepareMethod(space::Oop cls, std::string_view source) const;
  void installMethod(const Ref& cls, const Ref& method);
  void removeMethod(const Ref& cls, std::string_view selector);
  // Makes `superclass` the superclass of `cls` (and its metaclass's), keeping the shape of
  // its instances: the new superclass chain must define the same instance variables, in
  // the same order, as the old one (for the class side as well).
  void setSuperclass(const Ref& cls, const Ref& superclass);
  // The names of the globals bound to classes, sorted (a browser's list of classes).
  std::vector<std::string> classNames() const;
  // The value of the global `name`, if it is defined.
  std::optional<Ref> globalAt(std::string_view name) const;
  // Defines or changes the global `name` (code that refers to it sees the new value).
  void setGlobal(std::string_view name, const Ref& value);
  // Makes the global `name` undefined again.
  void removeGlobal(std::string_view name);
  std::string selectorOf(const Ref& method) const;
  std::string sourceOf(const Ref& method) const;
  // The methods (both sides of every class classNames() lists, in its order, then by
  // selector) whose source holds `text`, a plain case-sensitive substring: sources are
  // read in place, and only a matching one is copied. Stops at the first match past
  // `limit` (limit + 1 matches say that more match), so its cost is bounded by the code.
  struct SourceMatch {
    std::string className;
    bool classSide = false;
    std::string selector;
    std::string source;
  };
  struct SourceSearch {
    std::vector<SourceMatch> matches;
    size_t methodsSearched = 0;
  };
  SourceSearch searchSources(std::string_view text, size_t limit) const;

  // ---- instances ----------------------------------------------------------------------
  Ref newInstance(const Ref& cls, size_t indexedSize = 0);
  // An Array of every instance (exactly of `cls`, not of subclasses).
  Ref allInstances(const Ref& cls);
  size_t sizeOf(const Ref& array) const;         // indexable size
  Ref at(const Ref& array, size_t index) const;  // 1-based, like Smalltalk
  Ref classOf(const Ref& object) const;
  // Changes the class of `object` to one of the same shape (format and field count).
  void setClass(const Ref& object, const Ref& cls);
  size_t fieldCount(const Ref& object) const;
  Ref slotAt(const Ref& object, size_t index) const;  // 1-based named fields
  Ref slotAt(const Ref& object, std::string_view name) const;
  void slotAtPut(const Ref& object, size_t index, const Ref& value);
  void slotAtPut(const Ref& object, std::string_view name, const Ref& value);
  // Two-way become of a[i] and b[i]; a and b are Arrays of equal size (or single objects).
  void swapIdentities(const Ref& a, const Ref& b);
  // Every reference to from[i] becomes one to to[i] (one-way become).
  void becomeForward(const Ref& from, const Ref& to);
  // Instance migration, the first half: every instance of `oldClass` (an Array) and, at
  // the same positions, a new instance of `newClass` (fixed fields only, both) whose
  // fields come from `fields` (one entry per field of `newClass`). becomeForward of the
  // two Arrays completes it (each old instance's identity hash goes to its new version).
  std::pair<Ref, Ref> newInstanceVersions(const Ref& oldClass, const Ref& newClass,
                                          const std::vector<FieldSource>& fields);
  // The whole migration at once, when no field needs guest code: newInstanceVersions and
  // becomeForward without the two Arrays.
  void migrateInstances(const Ref& oldClass, const Ref& newClass, const std::vector<FieldSource>& fields);
  // Before the pause of a migration of about `count` instances, the guest running: the
  // buffers migrateInstances collects them and their new versions in get that much room,
  // written a slice at a time with `between` called after each. Fresh memory costs a
  // fault per page: for a million instances, 16 MB and 25-50 ms, in the pause otherwise.
  // Touches no object of the space.
  void prepareMigration(size_t count, const std::function<void()>& between);

  // ---- execution ----------------------------------------------------------------------
  // Every process that has not terminated. A full collection first drops unreachable
  // processes that never ran to their end.
  std::vector<ProcessView> processes();
  // The same without the collection, cheap enough for a status report on a large heap:
  // it also lists unreachable processes that a collection would free.
  std::vector<ProcessView> processesWithoutCollecting();
  ProcessView viewOf(const Ref& process) const;
  std::vector<FrameView> frames(const Ref& process, size_t maxFrames = SIZE_MAX) const;
  // A suspended process whose first frame sends `selector` to `receiver` with `arguments`
  // (an Array, or nil for none); installProcess schedules it.
  Ref createProcess(const Ref& receiver, std::string_view selector, const Ref& arguments, int priority = 40);
  void installProcess(const Ref& process);
  // Ends a process that is not running; its unwind blocks run when it is next scheduled.
  void terminateProcess(const Ref& process);
  // Makes the frame at `depth` the current one, discarding the frames above it without
  // running their unwind blocks: the send it was making answers `value`.
  void unwindTo(const Ref& process, size_t depth, const Ref& value);
  // Restarts the frame at `depth` from its first instruction (discarding the frames above),
  // optionally running `newMethod` — a new version of the same selector — instead.
  void restartFrame(const Ref& process, size_t depth, const std::optional<Ref>& newMethod = std::nullopt);
  // A process stopped at an update point first runs `selector` sent to `receiver` with
  // `arguments` when it resumes, then continues where it was (the new frame's result is
  // the value of that `Chester updatePoint`, which is discarded).
  void insertFrame(const Ref& process, const Ref& receiver, std::string_view selector, const Ref& arguments);

  // ---- VM interface -------------------------------------------------------------------
  static std::vector<std::string> specialObjectNames();
  Ref specialObject(std::string_view name) const;
  // Replaces a special object; a class special object must be a class. Setting the class
  // of SmallIntegers, Characters or Doubles rebinds what the VM answers for immediates.
  void setSpecialObject(std::string_view name, const Ref& value);

  // ---- what changed ----------------------------------------------------------------------
  const ChangeCounts& changes() const { return changes_; }
  void resetChanges() { changes_ = ChangeCounts(); }

  // ---- checks -------------------------------------------------------------------------
  // The heap verifier over the whole space (headers, class indexes, no foreign oop).
  // Answers the problems found (empty: none).
  std::vector<std::string> verify() const;

 private:
  void requireQuiescent(const char* operation) const;
  void requireClass(const char* operation, const Ref& cls, const char* what) const;
  void requireProcess(const char* operation, const Ref& process) const;
  void checkSameSpace(const char* operation, const Ref& r) const;
  size_t fieldIndex(const char* operation, const Ref& object, std::string_view name) const;
  int64_t frameIndexAt(const char* operation, const Ref& process, size_t depth) const;
  void checkSend(const char* operation, const Ref& receiver, std::string_view selector, const Ref& arguments) const;
  // Refuses an edit that would make the stack of `process` need more than `slots` slots
  // beyond the process's stack limit.
  void requireStackRoom(const char* operation, const Ref& process, size_t slots) const;
  void afterVmReconfiguration();

  vm::Runtime& rt_;
  ChangeCounts changes_;
  size_t checkMigration(const char* op, const Ref& oldClass, const Ref& newClass,
                        const std::vector<FieldSource>& fields) const;
  template <class Made>
  void makeNewVersions(const Ref& newClass, const std::vector<FieldSource>& fields, size_t count, Made&& made);
  void fillNewVersion(space::Oop to, space::HeapObject* from, const std::vector<FieldSource>& fields);

  // allInstances's walk and migrateInstances collect here; the capacity stays, warm, for
  // the next time (fresh memory costs a fault per page).
  std::vector<space::Oop> instances_, versions_;
};

}  // namespace mop
