// WriteTracker: see WriteTracker.h.
#include "space/WriteTracker.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "space/KernelWrites.h"

namespace space {

namespace {

void protect(uintptr_t start, size_t bytes, int protection) {
  if (bytes == 0) return;
  if (mprotect(reinterpret_cast<void*>(start), bytes, protection) != 0) {
    throw std::runtime_error(std::string("cannot change page protection: ") + std::strerror(errno));
  }
}

}  // namespace

WriteTracker::WriteTracker(std::span<const MemoryRange> ranges) {
  for (const MemoryRange& m : ranges) {
    if (m.end <= m.start) continue;
    size_t pages = (m.end - m.start) / kPageSize;
    ranges_.push_back(
        Range{m, std::vector<uint8_t>(pages, 0), std::vector<uint8_t>((pages + kBlockPages - 1) / kBlockPages, 0)});
    pagesTracked_ += pages;
  }
  std::sort(ranges_.begin(), ranges_.end(),
            [](const Range& a, const Range& b) { return a.memory.start < b.memory.start; });
  addWriteFaultOwner(this);
  active_ = true;
  try {
    for (const Range& r : ranges_) protect(r.memory.start, r.memory.end - r.memory.start, PROT_READ);
  } catch (...) {
    release();
    throw;
  }
}

WriteTracker::~WriteTracker() {
  if (active_) release();
  finishRelease();
}

bool WriteTracker::handleFault(uintptr_t address) {
  if (!active_ && !releasing()) return false;
  // The range whose start is the last one at or below the address.
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), address,
                             [](uintptr_t a, const Range& r) { return a < r.memory.start; });
  if (it == ranges_.begin()) return false;
  Range& r = *--it;
  if (address >= r.memory.end) return false;
  size_t index = (address - r.memory.start) / kPageSize;
  if (!active_) {  // released, the unprotecting thread has not reached this block yet
    size_t first = index / kBlockPages * kBlockPages;
    return unprotect(r, first, std::min(kBlockPages, r.saved.size() - first));
  }
  if (r.saved[index]) return true;  // saved already: another thread raced us (none today)
  faults_++;
  size_t block = index / kBlockPages;
  bool wholeBlock = r.blockFaulted[block];  // its second fault: a run of writes, take it all
  r.blockFaulted[block] = 1;
  if (wholeBlock) {
    if (!saveBlock(r, block)) return false;
  } else if (!savePage(r, index)) {
    return false;  // no memory for the copy: the fault is reported as a crash
  }
  if (savedCount_ >= kMaxScatteredPages) {
    saveAllRemaining();
    return true;
  }
  size_t first = wholeBlock ? block * kBlockPages : index;
  size_t count = wholeBlock ? std::min(kBlockPages, r.saved.size() - first) : 1;
  // When the kernel refuses to split the mapping once more: copy the rest at once.
  if (!unprotect(r, first, count)) saveAllRemaining();
  return true;
}

bool WriteTracker::saveBlock(Range& r, size_t block) {
  size_t end = std::min(r.saved.size(), (block + 1) * kBlockPages);
  for (size_t i = block * kBlockPages; i < end; i++) {
    if (!r.saved[i] && !savePage(r, i)) return false;
  }
  return true;
}

bool WriteTracker::unprotect(const Range& r, size_t first, size_t count) {
  return mprotect(reinterpret_cast<void*>(r.memory.start + first * kPageSize), count * kPageSize,
                  PROT_READ | PROT_WRITE) == 0;
}

bool WriteTracker::savePage(Range& r, size_t index) {
  SavedPage* s = newSavedPage();
  if (!s) return false;  // no memory for the copy: the fault is reported as a crash
  s->page = r.memory.start + index * kPageSize;
  std::memcpy(s->data, reinterpret_cast<const void*>(s->page), kPageSize);
  r.saved[index] = 1;
  savedCount_++;
  return true;
}

WriteTracker::SavedPage* WriteTracker::newSavedPage() {
  if (!chunks_ || chunks_->used == Chunk::kPages) {
    // Populated at once: one system call instead of a page fault per saved page.
    void* p = mmap(nullptr, sizeof(Chunk), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    Chunk* c = static_cast<Chunk*>(p);
    c->next = chunks_;
    c->used = 0;
    chunks_ = c;
  }
  return &chunks_->pages[chunks_->used++];
}

void WriteTracker::saveAllRemaining() {
  for (Range& r : ranges_) {
    for (size_t i = 0; i < r.saved.size(); i++) {
      if (!r.saved[i]) savePage(r, i);
    }
  }
  copiedAll_ = true;
  unprotectAll();
}

void WriteTracker::unprotectAll() {
  for (const Range& r : ranges_) {
    mprotect(reinterpret_cast<void*>(r.memory.start), r.memory.end - r.memory.start, PROT_READ | PROT_WRITE);
  }
}

void WriteTracker::restore(Release how) {
  if (!active_) return;
  // Saved pages are writable (unprotected when saved); untouched ones need no copy.
  for (Chunk* c = chunks_; c; c = c->next) {
    for (size_t i = 0; i < c->used; i++) {
      std::memcpy(reinterpret_cast<void*>(c->pages[i].page), c->pages[i].data, kPageSize);
    }
  }
  if (how == Release::InBackground) {
    releaseInBackground();
  } else {
    release();
  }
}

void WriteTracker::release() {
  if (!active_) return;
  unprotectAll();
  removeWriteFaultOwner(this);
  active_ = false;
  freeChunks();
}

void WriteTracker::releaseInBackground() {
  if (!active_) return;
  capturesActive.fetch_add(1);  // before the first page could be found read-only by a system call
  releasing_.store(true);
  active_ = false;
  freeChunks();
  unprotecter_ = std::thread([this] { unprotectAll(); });
}

void WriteTracker::finishRelease() {
  if (!releasing()) return;
  unprotecter_.join();
  removeWriteFaultOwner(this);
  releasing_.store(false);
  capturesActive.fetch_sub(1);
}

void WriteTracker::freeChunks() {
  while (chunks_) {
    Chunk* next = chunks_->next;
    munmap(chunks_, sizeof(Chunk));
    chunks_ = next;
  }
}

}  // namespace space
