// MarkBitmap: the full collector's mark bits, one for each 8-byte word of a space's
// reservation, kept beside the heap rather than in the objects' headers.
//
// Why beside: marking then never writes the heap. A marking that runs in steps between
// the program's work (space/Marker.h) can be dropped at any time by forgetting its bits;
// a snapshot or a checkpoint taken while it runs sees no trace of it in the pages it
// saves; and the sweep reads the live objects without writing their headers.
//
// Invariant: outside a full collection's marking and sweep every bit is clear. The sweep
// clears the bit of each live object it passes (unmark), so it writes only the words that
// hold marks; a marking dropped half-way clears every word it touched (clear).
#pragma once

#include <cstddef>
#include <cstdint>

#include "space/HeapObject.h"

namespace space {

class MarkBitmap {
 public:
  // Covers [base, base + bytes); the bitmap's pages are reserved, not committed: only
  // those a marking touches take memory (1/64 of the old objects' span).
  MarkBitmap(uintptr_t base, size_t bytes);
  ~MarkBitmap();
  MarkBitmap(const MarkBitmap&) = delete;
  MarkBitmap& operator=(const MarkBitmap&) = delete;

  bool isMarked(const HeapObject* o) const {
    size_t bit = bitOf(o);
    return (words_[bit / 64] >> (bit % 64) & 1) != 0;
  }
  // Marks `o`; answers whether it was unmarked before.
  bool mark(const HeapObject* o) {
    size_t bit = bitOf(o);
    uint64_t& word = words_[bit / 64];
    uint64_t mask = uint64_t(1) << (bit % 64);
    if ((word & mask) != 0) return false;
    word |= mask;
    if (bit / 64 < lowWord_) lowWord_ = bit / 64;
    if (bit / 64 >= highWord_) highWord_ = bit / 64 + 1;
    return true;
  }
  // Clears the bit of `o`. Objects whose bits share no word may be unmarked on different
  // threads at once: the sweep's threads take whole segments, whose bounds are page aligned.
  void unmark(const HeapObject* o) {
    size_t bit = bitOf(o);
    words_[bit / 64] &= ~(uint64_t(1) << (bit % 64));
  }
  // Clears every bit set since the last clear().
  void clear();
  // After the sweep has unmarked every marked object: nothing is left for clear() to do.
  void noteCleared() {
    lowWord_ = wordCount_;
    highWord_ = 0;
  }
  // Whether any bit is set (a scan of the words marks touched; for checks).
  bool anyMarked() const;

 private:
  size_t bitOf(const HeapObject* o) const { return (reinterpret_cast<uintptr_t>(o) - base_) / 8; }

  uintptr_t base_;
  size_t wordCount_;
  uint64_t* words_;
  // The words marked since the last clear() lie in [lowWord_, highWord_).
  size_t lowWord_, highWord_ = 0;
};

}  // namespace space
