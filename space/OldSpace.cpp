// OldSpace: segment management and free-list allocation for the old generation.
#include "space/OldSpace.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "space/Assert.h"
#include "space/WriteTracker.h"

namespace space {

namespace {
// The link to the next free chunk lives in the chunk's first slot.
uintptr_t& nextLink(uintptr_t chunk) {
  return *reinterpret_cast<uintptr_t*>(HeapObject::fromBlockStart(chunk)->slots());
}
}  // namespace

OldSpace::OldSpace(Reservation& reservation, uintptr_t firstAddress, size_t maxBytes)
    : reservation_(reservation), nextAddress_(firstAddress), maxBytes_(maxBytes) {}

OldSpace::~OldSpace() {
  if (keepSpare_) WriteTracker::keepSpareChunksReady(false);
  waitForBumpAreaWarming();
  if (spare_.bytes != 0) PageReleaseThread::instance().waitFor(spare_.warmed);
}

const Segment* OldSpace::segmentOf(uintptr_t a) const {
  auto it = std::upper_bound(segments_.begin(), segments_.end(), a,
                             [](uintptr_t x, const Segment& s) { return x < s.start; });
  if (it == segments_.begin()) return nullptr;
  --it;
  return it->contains(a) ? &*it : nullptr;
}

uintptr_t OldSpace::allocateBlock(size_t bytes) {
  uintptr_t p = takeBlock(bytes);
  if (watch_ != nullptr && p != 0 && p < watch_->below) watch_->blocks.emplace_back(p, bytes);
  return p;
}

uintptr_t OldSpace::takeBlock(size_t bytes) {
  if (bumpFirst_) {
    bool room = bumpTop_ + bytes <= bumpEnd_;
    if (!room && growBeforeReuse_ &&
        committedBytes_ + std::max(kDefaultSegmentBytes, Reservation::roundUpToPage(bytes)) <= maxBytes_) {
      room = openSegment(bytes);
    }
    if (room) {
      uintptr_t p = bumpTop_;
      bumpTop_ += bytes;
      allocatedSinceSweep_ += bytes;
      return p;
    }
  }
  size_t words = bytes / 8;
  do {
    if (words < kExactListWords && exactLists_[words] != 0) {
      uintptr_t chunk = exactLists_[words];
      exactLists_[words] = nextLink(chunk);
      freeBytes_ -= bytes;
      allocatedSinceSweep_ += bytes;
      return chunk;
    }
    // Swept free chunks before fresh bump memory: reusing pages already touched keeps the
    // resident set close to the live data.
    if (uintptr_t p = allocateFromLargeList(bytes)) {
      allocatedSinceSweep_ += bytes;
      return p;
    }
  } while (sweeper_ != nullptr && sweeper_->sweepNextSegment());
  if (bumpTop_ + bytes <= bumpEnd_) {
    uintptr_t p = bumpTop_;
    bumpTop_ += bytes;
    allocatedSinceSweep_ += bytes;
    return p;
  }
  if (!openSegment(bytes)) return 0;
  uintptr_t p = bumpTop_;
  bumpTop_ += bytes;
  allocatedSinceSweep_ += bytes;
  return p;
}

uintptr_t OldSpace::reserveBumpArea(size_t bytes) {
  if (bumpSegment_ != SIZE_MAX && bumpEnd_ - bumpTop_ >= bytes) return bumpTop_;
  // A free chunk that ends its segment becomes the bump area before a segment is opened:
  // after a full collection (which closes the bump area) the room is usually there, and
  // a segment opened each time would leave old space committing more and more.
  if (takeFreeTailAsBumpArea(bytes)) return bumpTop_;
  return openSegment(bytes) ? bumpTop_ : 0;
}

bool OldSpace::takeFreeTailAsBumpArea(size_t bytes) {
  return takeFreeTailFromList(largeList_, bytes) || takeFreeTailFromList(coldList_, bytes);
}

bool OldSpace::takeFreeTailFromList(uintptr_t& list, size_t bytes) {
  for (uintptr_t* link = &list; *link != 0; link = &nextLink(*link)) {
    uintptr_t chunk = *link;
    size_t size = HeapObject::fromBlockStart(chunk)->totalBytes();
    if (size < bytes) continue;
    auto it = std::upper_bound(segments_.begin(), segments_.end(), chunk,
                               [](uintptr_t a, const Segment& s) { return a < s.start; });
    if (it == segments_.begin() || chunk + size != (it - 1)->end || (it - 1)->top != (it - 1)->end) continue;
    size_t index = size_t(it - 1 - segments_.begin());
    *link = nextLink(chunk);
    freeBytes_ -= size;
    closeBumpArea();
    segments_[index].top = chunk;
    bumpSegment_ = index;
    bumpTop_ = chunk;
    bumpEnd_ = segments_[index].end;
    return true;
  }
  return false;
}

void OldSpace::warmBumpArea() {
  if (!keepSpare_ || spareHeld_) return;
  waitForBumpAreaWarming();
  if (bumpSegment_ == SIZE_MAX && !takeFreeTailAsBumpArea(kMinWarmBumpBytes)) return;
  alignBumpAreaToPage();
  uintptr_t start = Reservation::roundUpToPage(bumpTop_);
  uintptr_t end = std::min(bumpEnd_, start + kDefaultSegmentBytes);
  if (start >= end) return;
  bumpAreaWarmed_ = PageReleaseThread::instance().post([start, end] {
    for (uintptr_t p = start; p < end; p += Reservation::kPageSize) {
      // The space may allocate here meanwhile: a compare-and-swap of a word with the value
      // it holds writes the page, atomically, without ever changing what the space stored.
      auto* word = reinterpret_cast<uint64_t*>(p);
      uint64_t seen = __atomic_load_n(word, __ATOMIC_RELAXED);
      while (!__atomic_compare_exchange_n(word, &seen, seen, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
      }
    }
  });
}

void OldSpace::waitForBumpAreaWarming() {
  if (bumpAreaWarmed_ != 0) PageReleaseThread::instance().waitFor(bumpAreaWarmed_);
  bumpAreaWarmed_ = 0;
}

void OldSpace::alignBumpAreaToPage() {
  if (bumpSegment_ == SIZE_MAX) return;
  uintptr_t aligned = Reservation::roundUpToPage(bumpTop_);
  if (aligned == bumpTop_ || aligned > bumpEnd_) return;
  addFreeChunk(bumpTop_, aligned - bumpTop_);
  bumpTop_ = aligned;
}

uintptr_t OldSpace::allocateFromLargeList(size_t bytes) {
  if (uintptr_t p = allocateFromList(largeList_, bytes)) return p;
  return coldList_ != 0 ? allocateFromList(coldList_, bytes) : 0;
}

uintptr_t OldSpace::allocateFromList(uintptr_t& list, size_t bytes) {
  uintptr_t* link = &list;
  while (*link != 0) {
    uintptr_t chunk = *link;
    size_t size = HeapObject::fromBlockStart(chunk)->totalBytes();
    size_t rest = size - bytes;
    if (size == bytes || (size > bytes && rest >= 16)) {
      *link = nextLink(chunk);
      freeBytes_ -= size;
      if (rest > 0) addFreeChunk(chunk + bytes, rest);
      return chunk;
    }
    link = &nextLink(chunk);
  }
  return 0;
}

namespace {
// Formats [start, start + bytes) as a free chunk and answers the words of it that a free
// list takes, 0 when none does.
size_t formatListedChunk(uintptr_t start, size_t bytes) {
  HeapObject::formatFreeChunk(start, bytes);
  size_t words = bytes / 8;
  if (words < 2) return 0;       // a one-word filler cannot hold a link; the sweeper merges it later
  if (words == 256) return 255;  // formatFreeChunk split off a one-word filler
  return words;
}

// Pushes `chunk` on the list whose newest chunk is `newest`; `oldest`, when given, is set
// to the chunk that starts an empty list.
void pushChunk(uintptr_t chunk, uintptr_t& newest, uintptr_t* oldest = nullptr) {
  if (oldest != nullptr && newest == 0) *oldest = chunk;
  nextLink(chunk) = newest;
  newest = chunk;
}
}  // namespace

void OldSpace::addFreeChunk(uintptr_t start, size_t bytes) {
  size_t words = formatListedChunk(start, bytes);
  if (words == 0) return;
  freeBytes_ += words * 8;
  pushChunk(start, words < kExactListWords ? exactLists_[words] : largeList_);
}

void OldSpace::addColdFreeChunk(uintptr_t start, size_t bytes) {
  size_t words = formatListedChunk(start, bytes);
  ESPELL_ASSERT(words >= kExactListWords, "a cold free chunk too small for the large list");
  freeBytes_ += words * 8;
  pushChunk(start, coldList_);
}

void OldSpace::appendColdChunks() {
  uintptr_t* link = &largeList_;
  while (*link != 0) link = &nextLink(*link);
  *link = std::exchange(coldList_, 0);
}

void OldSpace::FreeChunks::add(uintptr_t start, size_t bytes) {
  size_t words = formatListedChunk(start, bytes);
  if (words == 0) return;
  bytes_ += words * 8;
  if (words < kExactListWords) {
    pushChunk(start, exactNewest_[words], &exactOldest_[words]);
  } else {
    pushChunk(start, largeNewest_, &largeOldest_);
  }
}

void OldSpace::adoptFreeChunks(FreeChunks& chunks) {
  auto adopt = [](uintptr_t& list, uintptr_t& newest, uintptr_t& oldest) {
    if (newest == 0) return;
    nextLink(oldest) = list;
    list = newest;
    newest = oldest = 0;
  };
  for (size_t w = 0; w < kExactListWords; w++) adopt(exactLists_[w], chunks.exactNewest_[w], chunks.exactOldest_[w]);
  adopt(largeList_, chunks.largeNewest_, chunks.largeOldest_);
  freeBytes_ += std::exchange(chunks.bytes_, 0);
}

void OldSpace::listLargeChunksLast(std::vector<uintptr_t> chunks) {
  if (chunks.empty()) return;
  std::sort(chunks.begin(), chunks.end());
  uintptr_t moved = 0;
  uintptr_t* movedEnd = &moved;  // the link the next moved chunk goes in
  uintptr_t* link = &largeList_;
  while (*link != 0) {
    uintptr_t chunk = *link;
    if (std::binary_search(chunks.begin(), chunks.end(), chunk)) {
      *link = nextLink(chunk);
      *movedEnd = chunk;
      movedEnd = &nextLink(chunk);
    } else {
      link = &nextLink(chunk);
    }
  }
  *movedEnd = 0;
  *link = moved;  // `link` is the list's last link now
}

void OldSpace::closeBumpArea() {
  if (bumpSegment_ == SIZE_MAX) return;
  Segment& s = segments_[bumpSegment_];
  if (bumpTop_ < bumpEnd_) addFreeChunk(bumpTop_, bumpEnd_ - bumpTop_);
  s.top = s.end;
  bumpSegment_ = SIZE_MAX;
  bumpTop_ = bumpEnd_ = 0;
}

void OldSpace::makeWalkable() {
  if (bumpSegment_ == SIZE_MAX) return;
  // Keep the bump area open, but record how far it is formatted.
  segments_[bumpSegment_].top = bumpTop_;
}

uintptr_t OldSpace::takeAddressRange(size_t bytes) {
  for (size_t i = 0; i < releasedRanges_.size(); i++) {
    auto& [start, size] = releasedRanges_[i];
    if (size >= bytes) {
      uintptr_t p = start;
      start += bytes;
      size -= bytes;
      if (size == 0) releasedRanges_.erase(releasedRanges_.begin() + long(i));
      return p;
    }
  }
  if (nextAddress_ + bytes > reservation_.end() || nextAddress_ + bytes < nextAddress_) return 0;
  uintptr_t p = nextAddress_;
  nextAddress_ += bytes;
  return p;
}

bool OldSpace::openSegment(size_t minBytes) {
  size_t bytes = std::max(kDefaultSegmentBytes, Reservation::roundUpToPage(minBytes));
  if (committedBytes_ + bytes > maxBytes_) {
    // Near the limit: a segment just big enough may still fit.
    bytes = Reservation::roundUpToPage(minBytes);
    if (committedBytes_ + bytes > maxBytes_) return false;
  }
  bool spare = openSpareSegment(bytes);
  if (spare) bytes = spare_.bytes;
  uintptr_t start = spare ? spare_.start : takeAddressRange(bytes);
  if (start == 0) return false;
  if (spare) {
    spare_ = Spare{};
    spareWanted_ = kDefaultSegmentBytes;
  } else {
    reservation_.commit(start, bytes);
  }
  closeBumpArea();
  committedBytes_ += bytes;
  Segment seg{start, start + bytes, start};
  auto it = std::upper_bound(segments_.begin(), segments_.end(), start,
                             [](uintptr_t x, const Segment& s) { return x < s.start; });
  it = segments_.insert(it, seg);
  bumpSegment_ = size_t(it - segments_.begin());
  bumpTop_ = start;
  bumpEnd_ = start + bytes;
  rebuildIndex();
  prepareSpareSegment();
  return true;
}

bool OldSpace::openSpareSegment(size_t bytes) {
  return spare_.bytes >= bytes && committedBytes_ + spare_.bytes <= maxBytes_ && spareSegmentReady();
}

void OldSpace::prepareSpareSegment() {
  if (!keepSpare_ || spareHeld_ || spare_.bytes != 0) return;
  // Only where the limit leaves room for it to become a segment after the next one.
  size_t bytes = spareWanted_;
  if (committedBytes_ + kDefaultSegmentBytes + bytes > maxBytes_) bytes = kDefaultSegmentBytes;
  if (committedBytes_ + kDefaultSegmentBytes + bytes > maxBytes_) return;
  uintptr_t start = takeAddressRange(bytes);
  if (start == 0) return;
  try {
    reservation_.commit(start, bytes);
  } catch (const std::runtime_error&) {
    releasedRanges_.push_back({start, bytes});  // advisory: no spare, the range stays free
    return;
  }
  spare_ = Spare{start, bytes, writeSparePages(start, start + bytes)};
}

PageReleaseThread::Ticket OldSpace::writeSparePages(uintptr_t start, uintptr_t end) {
  // The pages are zero; writing a zero into each leaves them so and makes them the
  // process's. Nothing else touches them until openSpareSegment sees the job done.
  return PageReleaseThread::instance().post([start, end] {
    for (uintptr_t p = start; p < end; p += Reservation::kPageSize) {
      *reinterpret_cast<volatile uint8_t*>(p) = 0;
    }
  });
}

std::pair<uintptr_t, size_t> OldSpace::dropSpareSegment() {
  if (spare_.bytes == 0) return {0, 0};
  PageReleaseThread::instance().waitFor(spare_.warmed);
  reservation_.decommit(spare_.start, spare_.bytes);
  std::pair<uintptr_t, size_t> range{spare_.start, spare_.bytes};
  spare_ = Spare{};
  return range;
}

void OldSpace::keepSpareSegment(bool keep) {
  if (keep != keepSpare_) WriteTracker::keepSpareChunksReady(keep);
  keepSpare_ = keep;
  if (keep) {
    prepareSpareSegment();
  } else if (auto range = dropSpareSegment(); range.second != 0) {
    releasedRanges_.push_back(range);
  }
}

void OldSpace::holdSpareSegment(bool held) {
  spareHeld_ = held;
  if (!held) prepareSpareSegment();
}

void OldSpace::prepareSpareRoom(size_t bytes) {
  bytes = std::clamp(Reservation::roundUpToPage(bytes), kDefaultSegmentBytes, kMaxSpareRoomBytes);
  if (!keepSpare_ || spareHeld_ || bytes <= spare_.bytes) return;
  if (committedBytes_ + kDefaultSegmentBytes + bytes > maxBytes_) return;
  spareWanted_ = bytes;
  // A spare that ends where old space would grow next grows in place: only the rest is
  // committed and written (jobs run in order, so the new ticket covers the first's).
  size_t more = bytes - spare_.bytes;
  if (spare_.bytes != 0 && spare_.start + spare_.bytes == nextAddress_ && nextAddress_ + more <= reservation_.end() &&
      nextAddress_ + more > nextAddress_) {
    try {
      reservation_.commit(nextAddress_, more);
    } catch (const std::runtime_error&) {
      return;  // advisory: the spare stays as it is
    }
    spare_.warmed = writeSparePages(nextAddress_, nextAddress_ + more);
    spare_.bytes = bytes;
    nextAddress_ += more;
    return;
  }
  if (auto range = dropSpareSegment(); range.second != 0) releasedRanges_.push_back(range);
  prepareSpareSegment();
}

bool OldSpace::spareRoomReady() {
  return spare_.bytes < spareWanted_ || PageReleaseThread::instance().finished(spare_.warmed);
}

bool OldSpace::spareSegmentReady() {
  return spare_.bytes != 0 && PageReleaseThread::instance().finished(spare_.warmed);
}

void OldSpace::rebuildIndex() {
  lowest_ = segments_.empty() ? 0 : segments_.front().start;
  highest_ = segments_.empty() ? 0 : segments_.back().end;
}

void OldSpace::resetFreeLists() {
  // Format the bump tail so the sweeper sees it as part of the segment's last free run.
  if (bumpSegment_ != SIZE_MAX) {
    if (bumpTop_ < bumpEnd_) HeapObject::formatFreeChunk(bumpTop_, bumpEnd_ - bumpTop_);
    segments_[bumpSegment_].top = segments_[bumpSegment_].end;
  }
  bumpSegment_ = SIZE_MAX;
  bumpTop_ = bumpEnd_ = 0;
  exactLists_.fill(0);
  largeList_ = 0;
  coldList_ = 0;
  freeBytes_ = 0;
}

void OldSpace::releaseSegment(size_t index) {
  Segment s = segments_[index];
  reservation_.decommit(s.start, s.bytes());
  committedBytes_ -= s.bytes();
  releasedRanges_.push_back({s.start, s.bytes()});
  segments_.erase(segments_.begin() + long(index));
  if (bumpSegment_ != SIZE_MAX) {
    if (bumpSegment_ == index) {
      bumpSegment_ = SIZE_MAX;
      bumpTop_ = bumpEnd_ = 0;
    } else if (bumpSegment_ > index) {
      bumpSegment_--;
    }
  }
  rebuildIndex();
}

OldSpace::State OldSpace::state() const {
  ESPELL_ASSERT(coldList_ == 0, "old space's state taken while a lazy sweep runs");
  return State{
      nextAddress_, releasedRanges_, segments_,   lowest_,   highest_,        bumpSegment_, bumpTop_,
      bumpEnd_,     exactLists_,     largeList_,  maxBytes_, committedBytes_, liveBytes_,   allocatedSinceSweep_,
      freeBytes_,   spare_.start,    spare_.bytes};
}

OldSpace::State OldSpace::State::withoutSpare() const {
  State s = *this;
  if (s.spareBytes != 0) s.releasedRanges.push_back({s.spareStart, s.spareBytes});
  s.spareStart = 0;
  s.spareBytes = 0;
  return s;
}

void OldSpace::restoreState(const State& saved) {
  waitForBumpAreaWarming();  // segments may be decommitted below
  // A spare prepared since the state was taken goes first: its range is free memory in
  // the saved state.
  if (spare_.bytes != 0 && spare_.start != saved.spareStart) dropSpareSegment();
  for (const Segment& s : segments_) {
    bool existed = std::any_of(saved.segments.begin(), saved.segments.end(),
                               [&](const Segment& old) { return old.start == s.start; });
    if (!existed) reservation_.decommit(s.start, s.bytes());
  }
  nextAddress_ = saved.nextAddress;
  releasedRanges_ = saved.releasedRanges;
  segments_ = saved.segments;
  lowest_ = saved.lowest;
  highest_ = saved.highest;
  bumpSegment_ = saved.bumpSegment;
  bumpTop_ = saved.bumpTop;
  bumpEnd_ = saved.bumpEnd;
  exactLists_ = saved.exactLists;
  largeList_ = saved.largeList;
  coldList_ = 0;
  maxBytes_ = saved.maxBytes;
  committedBytes_ = saved.committedBytes;
  liveBytes_ = saved.liveBytes;
  allocatedSinceSweep_ = saved.allocatedSinceSweep;
  freeBytes_ = saved.freeBytes;
  if (saved.spareBytes != 0 && spare_.start != saved.spareStart) {
    // A segment took the saved spare since, and was decommitted above with the others.
    releasedRanges_.push_back({saved.spareStart, saved.spareBytes});
  }
  prepareSpareSegment();
}

std::vector<std::pair<uintptr_t, uintptr_t>> OldSpace::occupiedRanges() const {
  std::vector<std::pair<uintptr_t, uintptr_t>> ranges;
  for (size_t i = 0; i < segments_.size(); i++) {
    const Segment& s = segments_[i];
    uintptr_t top = i == bumpSegment_ ? bumpTop_ : s.top;
    ranges.push_back({s.start, std::min(s.end, Reservation::roundUpToPage(top))});
  }
  return ranges;
}

}  // namespace space
