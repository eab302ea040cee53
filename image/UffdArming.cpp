// UffdArming: see UffdArming.h.
#include "image/UffdArming.h"

#include <stdexcept>

#include "image/UffdProtection.h"
#include "space/ThreadName.h"

namespace image {

UffdArming::UffdArming(std::vector<PageRange> ranges, PageRange populate) : ArmedProtection(std::move(ranges)) {
  descriptor_ = std::make_unique<Userfaultfd>();
  for (const PageRange& r : this->ranges()) descriptor_->registerRange(r);
  try {
    service_ = std::thread([this] {
      space::nameThisThread("arm-faults");
      descriptor_->serve([this](uintptr_t page) { onWrite(page); });
    });
    startProtecting(populate);
  } catch (...) {
    stopService();
    throw;
  }
}

UffdArming::~UffdArming() {
  stopProtecting();
  stopService();
  descriptor_.reset();  // lifts every protection
}

void UffdArming::stopService() {
  if (service_.joinable()) {
    descriptor_->stop();
    service_.join();
  }
}

// The service thread: a write to an armed page before the capture. Chunks are protected
// from each range's start in multiples of the block, so the block lies in the chunks
// protected so far or in the one being protected; should the protector protect part of
// it again after this lifts it, the next write there comes back here.
void UffdArming::onWrite(uintptr_t page) {
  Block block;
  if (!blockAt(page, &block)) {
    descriptor_->unprotect(page, PageWriter::kPageSize);  // not ours: cannot happen, but never leave a writer waiting
    return;
  }
  markWritten(block);
  descriptor_->unprotect(block.start, block.end - block.start);
}

std::unique_ptr<WriteProtection> UffdArming::capture(CapturedPages& pages) {
  if (!descriptor_) throw std::logic_error("UffdArming captured twice");
  waitUntilProtected();
  stopService();
  Handover h = handOverBlocks();  // throws when protecting failed: the destructor lifts it all
  return std::make_unique<UffdProtection>(pages, std::move(descriptor_), std::move(h));
}

}  // namespace image
