// MirrorBridge: the mirror MOP exposed to Smalltalk code of the hypervisor space — the
// classes of mop/smalltalk (GuestSpace, ClassMirror, ProcessMirror, ...) and their
// primitives, which call SpaceMirror on the guest.
//
// A mirror object in the hypervisor holds a SmallInteger id into this bridge's table of
// guest handles; the mirror is watched weakly (space::WeakRegistry), and the guest handle
// is released when the mirror dies. Values that cross are immediates, nil/true/false and
// copies of strings; every other guest object appears as a mirror.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "mop/SpaceMirror.h"
#include "vm/Runtime.h"

namespace mop {

class MirrorBridge final : public vm::RuntimeExtension {
 public:
  using GuestEvaluator = std::function<space::Handle(std::string_view source)>;
  // Takes a snapshot of the guest into a directory and answers its report as text (the
  // host's business: hypervisor/Snapshots.h). Throws std::exception naming why not.
  using GuestSnapshotter = std::function<std::string(const std::string& directory)>;
  // A command to the host of the hypervisor's own program (the console, hypervisor/
  // Console.h): a JSON request answered by a JSON text; the host's business what it does.
  using HostCommand = std::function<std::string(const std::string& requestJson)>;

  MirrorBridge(vm::Runtime& hypervisor, vm::Runtime& guest, GuestEvaluator evaluate);
  ~MirrorBridge() override;
  MirrorBridge(const MirrorBridge&) = delete;
  MirrorBridge& operator=(const MirrorBridge&) = delete;

  // Registers the primitives, loads the mirror classes into the hypervisor space and
  // binds its global Guest.
  void install();

  SpaceMirror& guest() { return guest_; }
  vm::Runtime& hypervisor() { return hv_; }
  size_t liveHandles() const { return handles_.size() - free_.size(); }

  // ---- for the primitives ------------------------------------------------------------
  // The guest object a hypervisor value stands for (mirrors, immediates, strings, Arrays
  // of those). Throws MirrorError for anything else.
  Ref toGuest(space::Oop hvValue);
  // A hypervisor value for a guest object: immediates and nil/true/false as themselves,
  // anything else as a new mirror (ClassMirror, MethodMirror, ProcessMirror, ObjectMirror).
  space::Oop toHypervisor(const Ref& guestObject);
  std::string hvString(space::Oop o, const char* what);
  void setLastError(std::string e) { lastError_ = std::move(e); }
  const std::string& lastError() const { return lastError_; }
  space::Handle evaluate(std::string_view source) { return evaluate_(source); }
  void setSnapshotter(GuestSnapshotter s) { snapshot_ = std::move(s); }
  std::string snapshot(const std::string& directory);
  void setHostCommand(HostCommand c) { hostCommand_ = std::move(c); }
  std::string hostCommand(const std::string& requestJson);

 private:
  space::Oop newMirror(const char* className, size_t id);
  void released(std::span<const space::WeakRegistry::Token> ids);

  vm::Runtime& hv_;
  vm::Runtime& guestRuntime_;
  SpaceMirror guest_;
  GuestEvaluator evaluate_;
  GuestSnapshotter snapshot_;  // empty: this host takes no snapshots
  HostCommand hostCommand_;    // empty: no host program is served
  std::vector<Ref> handles_;   // index = mirror id - 1; reset when the mirror dies
  std::vector<size_t> free_;
  space::WeakRegistry::Owner weakOwner_ = 0;  // the bridge's entries in the hypervisor's weak registry
  std::string lastError_;
};

}  // namespace mop
