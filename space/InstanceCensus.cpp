// InstanceCensus: see InstanceCensus.h.
#include "space/InstanceCensus.h"

#include <algorithm>

#include "space/Nursery.h"
#include "space/Reservation.h"

namespace space {

namespace {
// Blocks walked between two looks at the clock.
constexpr unsigned kBlocksPerClockCheck = 512;
}  // namespace

InstanceCensus::InstanceCensus(OldSpace& old, std::vector<ClassIndex> classes)
    : old_(old), classes_(std::move(classes)), foundPerClass_(classes_.size(), 0) {
  old_.setAllocationWatch(&watch_);  // watch_.below is 0: nothing is behind the walk yet
}

InstanceCensus::~InstanceCensus() {
  old_.setAllocationWatch(nullptr);
}

bool InstanceCensus::covers(ClassIndex c) const {
  return std::find(classes_.begin(), classes_.end(), c) != classes_.end();
}

template <class F>
uintptr_t InstanceCensus::walkBlocks(uintptr_t from, uintptr_t to, std::chrono::steady_clock::time_point deadline,
                                     F&& f) {
  unsigned sinceClockCheck = 0;
  for (uintptr_t p = from; p < to;) {
    if (++sinceClockCheck == kBlocksPerClockCheck) {
      sinceClockCheck = 0;
      if (std::chrono::steady_clock::now() >= deadline) return p;
    }
    HeapObject* o = HeapObject::fromBlockStart(p);
    p += o->totalBytes();
    if (o->classIndex() != reserved_class::kFreeChunk && covers(o->classIndex())) f(o);
  }
  return to;
}

bool InstanceCensus::step(std::chrono::microseconds budget) {
  return walkUntil(std::chrono::steady_clock::now() + budget);
}

bool InstanceCensus::walkUntil(std::chrono::steady_clock::time_point deadline) {
  uintptr_t& cursor = watch_.below;  // the watch takes what is allocated below the walk's cursor
  if (cursor == kWalked) return true;
  old_.makeWalkable();
  const std::vector<Segment>& segments = old_.segments();
  // The first segment that ends above the cursor: those below were walked, or opened
  // below it since (their blocks are all in the watch).
  auto s = std::upper_bound(segments.begin(), segments.end(), cursor,
                            [](uintptr_t a, const Segment& seg) { return a < seg.end; });
  for (; s != segments.end(); ++s) {
    uintptr_t stop = walkBlocks(std::max(cursor, s->start), s->top, deadline, [&](HeapObject* o) {
      found_.push_back(o->asOop());
      foundPerClass_[size_t(std::find(classes_.begin(), classes_.end(), o->classIndex()) - classes_.begin())]++;
      countPages(o);
    });
    if (stop < s->top) {
      cursor = stop;  // a block start inside the segment
      return false;
    }
    // Its end once walked to its top: what is allocated above the top later lies below
    // the cursor then, and the watch takes it.
    cursor = s->end;
  }
  // Walked: whatever is allocated from now on, in any segment, old or opened later, is
  // behind the walk.
  cursor = kWalked;
  return true;
}

void InstanceCensus::forEachInstance(ClassIndex c, Nursery& young, const std::function<void(HeapObject*)>& f) {
  walkUntil(std::chrono::steady_clock::time_point::max());  // the rest of old space, at once
  for (Oop o : found_) {
    if (o.object()->classIndex() == c) f(o.object());  // a forwarder now, perhaps
  }
  auto walk = [&](uintptr_t from, uintptr_t to) {
    for (uintptr_t p = from; p < to;) {
      HeapObject* o = HeapObject::fromBlockStart(p);
      p += o->totalBytes();
      if (o->classIndex() == c) f(o);
    }
  };
  for (auto [start, bytes] : watch_.blocks) walk(start, start + bytes);
  walk(young.eden.start, young.eden.top);
  walk(young.fromSurvivor().start, young.fromSurvivor().top);
}

size_t InstanceCensus::foundOf(ClassIndex c) const {
  auto it = std::find(classes_.begin(), classes_.end(), c);
  return it == classes_.end() ? 0 : foundPerClass_[size_t(it - classes_.begin())];
}

void InstanceCensus::countPages(const HeapObject* o) {
  constexpr uintptr_t kPage = Reservation::kPageSize;
  uintptr_t countedTo = pageRuns_.empty() ? 0 : pageRuns_.back().second;
  uintptr_t start = o->blockStart(), end = start + o->totalBytes();
  uintptr_t first = std::max(start & ~(kPage - 1), countedTo);
  uintptr_t last = Reservation::roundUpToPage(end);
  if (last <= first) return;  // on a page counted already
  if (first == countedTo && !pageRuns_.empty()) {
    pageRuns_.back().second = last;
  } else {
    pageRuns_.push_back({first, last});
  }
}

size_t InstanceCensus::pagesFound() const {
  size_t pages = 0;
  for (auto [start, end] : pageRuns_) pages += (end - start) / Reservation::kPageSize;
  return pages;
}

}  // namespace space
