// WriteFaults: the one process-wide SIGSEGV handler behind copy-on-write by page
// protection. WriteTracker (update rollback) and image::PageWriter (snapshots) both make
// pages read-only and take the first write to each as a fault, and
// image::FirstTouchVerification keeps a resumed image's unchecked pages unreadable and
// takes any first access as one (handleWriteFault is asked about reads then too). A fault
// is delivered to the process, so one handler must find its owner from the address alone.
// Each owner registers here and is asked in turn; a fault no owner claims goes to the
// handler installed before ours (a real crash stays a crash; sanitizers keep theirs).
//
// Sharing one handler, rather than each owner chaining its own, keeps the chain acyclic:
// two handlers that each reinstall themselves over the other would forward to each other
// forever.
#pragma once

#include <cstdint>

namespace space {

class WriteFaultOwner {
 public:
  // Whether the fault at `address` is this owner's; if so it has made the write possible
  // (or will have when the faulting instruction is retried). Runs in a signal handler:
  // only memory copies, atomics and async-signal-safe system calls.
  virtual bool handleWriteFault(uintptr_t address) = 0;

 protected:
  ~WriteFaultOwner() = default;
};

// Asks `owner` about every write fault from now on (and installs the handler if another
// replaced it since). Throws std::runtime_error when the table of owners is full or the
// handler cannot be installed.
void addWriteFaultOwner(WriteFaultOwner* owner);
// Stops asking `owner`. A handler already running on another thread may still be inside
// its handleWriteFault: an owner that can be faulted on by several threads waits for them.
void removeWriteFaultOwner(WriteFaultOwner* owner);

}  // namespace space
