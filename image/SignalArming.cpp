// SignalArming: see SignalArming.h.
#include "image/SignalArming.h"

#include <sched.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "image/SignalProtection.h"

namespace image {

namespace {

bool setProtection(uintptr_t start, size_t bytes, int protection) {
  return bytes == 0 || mprotect(reinterpret_cast<void*>(start), bytes, protection) == 0;
}

}  // namespace

SignalArming::SignalArming(std::vector<PageRange> ranges, PageRange populate, size_t maxWrittenBlocks)
    : ArmedProtection(std::move(ranges)), maxWrittenBlocks_(maxWrittenBlocks) {
  space::addWriteFaultOwner(this);  // before any page is protected
  registered_ = true;
  try {
    startProtecting(populate);
  } catch (...) {
    stopFaults();
    throw;
  }
}

SignalArming::~SignalArming() {
  stopProtecting();
  // Writable first, then no longer an owner: a write in between only marks its block.
  if (registered_) unprotectAll();
  stopFaults();
}

void SignalArming::protect(uintptr_t start, size_t bytes) {
  if (!setProtection(start, bytes, PROT_READ)) {
    throw std::runtime_error(std::string("cannot write-protect pages: ") + std::strerror(errno));
  }
}

// A write to an armed page before the capture, on the writing thread. Chunks are protected
// from each range's start in whole blocks, and a fault comes only once the call that
// protected its page has returned (mprotect holds the mapping until then), so no later
// call of the protector covers this block again.
bool SignalArming::handleWriteFault(uintptr_t address) {
  handlersRunning_.fetch_add(1, std::memory_order_acquire);
  Block block;
  bool ours = blockAt(address, &block);
  if (ours) {
    bool alone = faults_.fetch_add(1, std::memory_order_relaxed) < maxWrittenBlocks_;
    if (alone) {
      markWritten(block);  // before the block is writable: the pause protects it again
      alone = setProtection(block.start, block.end - block.start, PROT_READ | PROT_WRITE);
    }
    if (!alone) {
      markRangeWritten(block.range);
      const PageRange& r = ranges()[block.range];
      setProtection(r.start, r.end - r.start, PROT_READ | PROT_WRITE);
    }
  }
  handlersRunning_.fetch_sub(1, std::memory_order_release);
  return ours;
}

void SignalArming::stopFaults() {
  if (!registered_) return;
  space::removeWriteFaultOwner(this);
  registered_ = false;
  while (handlersRunning_.load(std::memory_order_acquire) != 0) sched_yield();
}

void SignalArming::unprotectAll() {
  for (const PageRange& r : ranges()) setProtection(r.start, r.end - r.start, PROT_READ | PROT_WRITE);
}

std::unique_ptr<WriteProtection> SignalArming::capture(CapturedPages& pages) {
  if (!registered_) throw std::logic_error("SignalArming captured twice");
  waitUntilProtected();
  // In the pause nothing writes: the next owner (SignalProtection) registers before it
  // changes any protection.
  stopFaults();
  // Past here no owner answers for the armed pages: whatever fails leaves them writable.
  try {
    return std::make_unique<SignalProtection>(pages, handOverBlocks());
  } catch (...) {
    unprotectAll();
    throw;
  }
}

}  // namespace image
