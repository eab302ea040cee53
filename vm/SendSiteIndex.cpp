// SendSiteIndex: see SendSiteIndex.h.
#include "vm/SendSiteIndex.h"

#include "space/Assert.h"
#include "space/HeapObject.h"
#include "vm/ObjectLayouts.h"

namespace vm {

void SendSiteIndex::invalidate() {
  valid_ = false;
  if (discardedBySelector_.empty() && discardedArrays_.empty()) {
    discardedBySelector_.swap(bySelector_);
    discardedArrays_.swap(arrays_);
  } else {
    bySelector_.clear();
    arrays_.clear();
  }
}

void SendSiteIndex::startBuilding() {
  bySelector_.clear();
  arrays_.clear();
  discardedBySelector_.clear();
  discardedArrays_.clear();
  valid_ = true;
}

void SendSiteIndex::add(space::Oop sites) {
  if (!valid_ || !sites.isHeapObject() || !arrays_.insert(sites.bits()).second) return;
  const space::Oop* site = sites.object()->slots();
  const space::Oop* end = site + sites.object()->slotCount() / send_site::kSlots * send_site::kSlots;
  for (; site != end; site += send_site::kSlots) {
    std::vector<space::Oop>& listed = bySelector_[site[send_site::kSelector].bits()];
    // An array sending a selector twice is listed once: its sites are visited together.
    if (listed.empty() || listed.back() != sites) listed.push_back(sites);
  }
}

void SendSiteIndex::dropDead(const std::function<bool(space::Oop)>& alive) {
  if (!valid_) return;
  for (auto it = bySelector_.begin(); it != bySelector_.end();) {
    std::erase_if(it->second, [&](space::Oop sites) { return !alive(sites); });
    it = it->second.empty() ? bySelector_.erase(it) : std::next(it);
  }
  std::erase_if(arrays_, [&](uint64_t bits) { return !alive(space::Oop::fromBits(bits)); });
}

}  // namespace vm
