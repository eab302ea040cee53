// WriteFaults: see WriteFaults.h.
#include "space/WriteFaults.h"

#include <signal.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

namespace space {

namespace {

// The owners asked about each fault. Written by the threads that start and stop
// protection; read by the handler on any thread.
constexpr size_t kMaxOwners = 16;
std::atomic<WriteFaultOwner*> owners[kMaxOwners];
struct sigaction previousHandler;
// Registrations and removals so far: an owner that goes away has made its pages writable
// first, and one that comes has not protected anything yet.
std::atomic<uint64_t> ownerChanges{0};

// The last fault on this thread that no owner claimed, and ownerChanges then. A fault may
// be late: the page was protected when the write faulted, and its owner made it writable
// and went away before this handler looked. Such a write succeeds when run again. A write
// to memory that is still read-only faults again at the same address with no owner come
// or gone meanwhile, and is passed on then.
thread_local uintptr_t unclaimedAddress = 0;
thread_local uint64_t unclaimedChanges = 0;

// Passes a fault that is none of ours to whoever handled SIGSEGV before.
void forwardFault(int sig, siginfo_t* info, void* context) {
  if (previousHandler.sa_flags & SA_SIGINFO) {
    if (previousHandler.sa_sigaction) return previousHandler.sa_sigaction(sig, info, context);
  } else if (previousHandler.sa_handler != SIG_DFL && previousHandler.sa_handler != SIG_IGN) {
    return previousHandler.sa_handler(sig);
  }
  // The default action: reinstall it and return; the faulting instruction runs again and
  // the process ends as it would have without us.
  signal(sig, SIG_DFL);
}

void onFault(int sig, siginfo_t* info, void* context) {
  // The owners make system calls (mprotect, nanosleep) that may set errno, and the write
  // that faulted may sit between a system call and the code that reads its errno.
  struct ErrnoKept {
    int saved = errno;
    ~ErrnoKept() { errno = saved; }
  } errnoKept;
  if (info->si_code == SEGV_ACCERR) {
    uintptr_t address = reinterpret_cast<uintptr_t>(info->si_addr);
    uint64_t changes = ownerChanges.load(std::memory_order_acquire);
    for (std::atomic<WriteFaultOwner*>& slot : owners) {
      WriteFaultOwner* owner = slot.load(std::memory_order_acquire);
      if (owner && owner->handleWriteFault(address)) return;
    }
    if (address != unclaimedAddress || changes != unclaimedChanges) {
      unclaimedAddress = address;
      unclaimedChanges = changes;
      return;  // run the write again: it may have been late
    }
  }
  forwardFault(sig, info, context);
}

// Makes onFault the SIGSEGV handler, remembering the one it replaces. Checked at every
// registration, since other code (a test harness, a sanitizer) may have replaced it since.
void installHandler() {
  struct sigaction current;
  if (sigaction(SIGSEGV, nullptr, &current) == 0 && (current.sa_flags & SA_SIGINFO) &&
      current.sa_sigaction == onFault) {
    return;
  }
  struct sigaction action = {};
  action.sa_sigaction = onFault;
  action.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  if (sigaction(SIGSEGV, &action, &previousHandler) != 0) {
    throw std::runtime_error(std::string("cannot install the write-fault handler: ") + std::strerror(errno));
  }
}

}  // namespace

void addWriteFaultOwner(WriteFaultOwner* owner) {
  installHandler();
  for (std::atomic<WriteFaultOwner*>& slot : owners) {
    WriteFaultOwner* expected = nullptr;
    if (slot.compare_exchange_strong(expected, owner)) {
      ownerChanges.fetch_add(1, std::memory_order_release);
      return;
    }
  }
  throw std::runtime_error("too many write-protected memory owners at once");
}

void removeWriteFaultOwner(WriteFaultOwner* owner) {
  for (std::atomic<WriteFaultOwner*>& slot : owners) {
    WriteFaultOwner* expected = owner;
    slot.compare_exchange_strong(expected, nullptr);
  }
  ownerChanges.fetch_add(1, std::memory_order_release);
}

}  // namespace space
