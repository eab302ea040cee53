// PendingSegments: see PendingSegments.h.
#include "image/PendingSegments.h"

namespace image {

void PendingSegments::add(std::unique_ptr<SegmentOutput> out, uintptr_t start) {
  out->startWriteback();
  pending_.emplace_back(std::move(out), start);
  while (pending_.size() > kMaxPending) {
    done_.push_back(pending_.front().first->finish(pending_.front().second));
    pending_.pop_front();
  }
}

void PendingSegments::finishAll() {
  while (!pending_.empty()) {
    done_.push_back(pending_.front().first->finish(pending_.front().second));
    pending_.pop_front();
  }
}

}  // namespace image
