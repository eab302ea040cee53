// HeapObject: the in-memory layout of a heap object (header word, optional overflow word,
// slots) and the accessors every other module uses to read it.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "space/ClassIndex.h"
#include "space/Format.h"
#include "space/Oop.h"

namespace space {

// The 64-bit object header:
//
//  63        56 55  54  53               32 31  30  29 28    24 23 22 21            0
// +------------+---+---+-------------------+---+---+---+--------+-----+---------------+
// | slot count |fwd|pin|  identity hash    |imm|rem|mrk| format | age |  class index  |
// +------------+---+---+-------------------+---+---+---+--------+-----+---------------+
//
// - class index: index into the space's class table (see ClassIndex.h).
// - age: number of scavenges survived in the nursery (tenuring threshold is small).
// - format: see Format.h. Byte formats hold one cache bit there: the bytes are all ASCII.
// - mrk: set by become's validation on the objects it checks (Space::becomeForward), clear
//   whenever none runs. The collector marks beside the heap (space/MarkBitmap.h).
// - rem: the object is in the remembered set (old object that may reference young ones).
// - imm: immutable; the VM refuses stores into it.
// - identity hash: 0 until first asked for, then a non-zero pseudo-random 22-bit value.
// - pin: the object never moves (old-space objects never move; this marks objects whose
//   address has been handed to the operating system).
// - fwd: the object is a forwarder; slot 0 holds the object it stands for.
// - slot count: number of 64-bit slots, or 255 meaning "read the overflow word", the word
//   just before the header, whose low 56 bits hold the count (its top byte is 0xFF, which
//   no header can have, so a linear heap walk can tell the two apart).
//
// Every object occupies at least two words (header + one slot) so that any object can be
// turned into a forwarder in place. Free chunks are the exception: their size is exactly
// header + slot count words, so that one-word gaps can be represented.
class HeapObject {
 public:
  static constexpr unsigned kClassIndexShift = 0;
  static constexpr unsigned kAgeShift = 22;
  static constexpr unsigned kFormatShift = 24;
  static constexpr unsigned kMarkedBit = 29;
  static constexpr unsigned kRememberedBit = 30;
  static constexpr unsigned kImmutableBit = 31;
  static constexpr unsigned kHashShift = 32;
  static constexpr unsigned kPinnedBit = 54;
  static constexpr unsigned kForwardedBit = 55;
  static constexpr unsigned kSlotCountShift = 56;

  static constexpr uint64_t kClassIndexMask = (uint64_t(1) << kClassIndexBits) - 1;
  static constexpr uint64_t kAgeMask = 3;
  static constexpr uint64_t kFormatMask = 31;
  static constexpr unsigned kHashBits = 22;
  static constexpr uint64_t kHashMask = (uint64_t(1) << kHashBits) - 1;
  static constexpr uint64_t kSlotCountMask = 255;
  static constexpr uint64_t kOverflowSlotCount = 255;
  static constexpr uint64_t kOverflowTag = uint64_t(0xFF) << 56;
  static constexpr uint64_t kMaxSlots = (uint64_t(1) << 56) - 1;

  static constexpr uint64_t makeHeader(ClassIndex cls, Format fmt, uint64_t slotCountField) {
    return (uint64_t(cls) << kClassIndexShift) | (uint64_t(fmt) << kFormatShift) | (slotCountField << kSlotCountShift);
  }

  // Words needed for an object with `slots` slots, including header and overflow word.
  static constexpr size_t wordsForSlots(size_t slots) {
    return 1 + (slots < 1 ? 1 : slots) + (slots >= kOverflowSlotCount ? 1 : 0);
  }
  static constexpr size_t headerWordsForSlots(size_t slots) { return slots >= kOverflowSlotCount ? 2 : 1; }

  uint64_t header() const { return header_; }
  void setHeader(uint64_t h) { header_ = h; }

  ClassIndex classIndex() const { return ClassIndex(header_ & kClassIndexMask); }
  void setClassIndex(ClassIndex c) {
    header_ = (header_ & ~(kClassIndexMask << kClassIndexShift)) | (uint64_t(c) << kClassIndexShift);
  }
  Format format() const { return Format((header_ >> kFormatShift) & kFormatMask); }
  void setFormat(Format f) { header_ = (header_ & ~(kFormatMask << kFormatShift)) | (uint64_t(f) << kFormatShift); }
  // Byte objects: whether every byte is known to be below 128 (kFormatBytesAsciiBit).
  bool isKnownAscii() const { return bit(kFormatShift + 3); }
  void setKnownAscii(bool v) { setBit(kFormatShift + 3, v); }
  // Byte objects: bytes were stored by a write that did not check them; forget that they
  // were all ASCII.
  void noteBytesWritten() { setKnownAscii(false); }
  unsigned age() const { return unsigned((header_ >> kAgeShift) & kAgeMask); }
  void setAge(unsigned a) { header_ = (header_ & ~(kAgeMask << kAgeShift)) | (uint64_t(a & kAgeMask) << kAgeShift); }

  bool isMarked() const { return bit(kMarkedBit); }
  void setMarked(bool v) { setBit(kMarkedBit, v); }
  bool isRemembered() const { return bit(kRememberedBit); }
  void setRemembered(bool v) { setBit(kRememberedBit, v); }
  bool isImmutable() const { return bit(kImmutableBit); }
  void setImmutable(bool v) { setBit(kImmutableBit, v); }
  bool isPinned() const { return bit(kPinnedBit); }
  void setPinned(bool v) { setBit(kPinnedBit, v); }
  bool isForwarded() const { return bit(kForwardedBit); }
  void setForwarded(bool v) { setBit(kForwardedBit, v); }

  uint32_t rawHash() const { return uint32_t((header_ >> kHashShift) & kHashMask); }
  void setRawHash(uint32_t h) {
    header_ = (header_ & ~(kHashMask << kHashShift)) | (uint64_t(h & kHashMask) << kHashShift);
  }

  bool hasOverflowWord() const { return ((header_ >> kSlotCountShift) & kSlotCountMask) == kOverflowSlotCount; }
  uint64_t slotCount() const {
    uint64_t field = (header_ >> kSlotCountShift) & kSlotCountMask;
    if (field != kOverflowSlotCount) return field;
    return overflowWord() & ~kOverflowTag;
  }
  // Shrinks the object in place (used for byte objects whose final size is known late).
  // The caller must re-format the freed tail.
  void setSlotCountNoOverflowChange(uint64_t n);

  Oop* slots() { return reinterpret_cast<Oop*>(this + 1); }
  const Oop* slots() const { return reinterpret_cast<const Oop*>(this + 1); }
  Oop slot(size_t i) const { return slots()[i]; }
  uint8_t* bytes() { return reinterpret_cast<uint8_t*>(this + 1); }
  const uint8_t* bytes() const { return reinterpret_cast<const uint8_t*>(this + 1); }
  uint64_t* words() { return reinterpret_cast<uint64_t*>(this + 1); }
  const uint64_t* words() const { return reinterpret_cast<const uint64_t*>(this + 1); }

  size_t byteLength() const { return size_t(slotCount()) * 8 - (uint8_t(format()) & kFormatBytesPaddingMask); }
  // Number of slots the GC must scan.
  size_t pointerSlotCount() const;

  // Start of the memory block (overflow word if present) and total size in bytes.
  uintptr_t blockStart() const { return reinterpret_cast<uintptr_t>(this) - (hasOverflowWord() ? 8 : 0); }
  size_t totalBytes() const {
    uint64_t n = slotCount();
    if (classIndex() == reserved_class::kFreeChunk) return (1 + n + (hasOverflowWord() ? 1 : 0)) * 8;
    return wordsForSlots(n) * 8;
  }

  Oop asOop() const { return Oop::fromObject(this); }

  // Given the start of a block in a linear heap walk, the header it holds.
  static HeapObject* fromBlockStart(uintptr_t start) {
    uint64_t first = *reinterpret_cast<const uint64_t*>(start);
    if ((first & kOverflowTag) == kOverflowTag) return reinterpret_cast<HeapObject*>(start + 8);
    return reinterpret_cast<HeapObject*>(start);
  }

  // Writes a header (and overflow word) for `slots` slots at `blockStart`; returns the object.
  static HeapObject* initializeAt(uintptr_t blockStart, ClassIndex cls, Format fmt, uint64_t slots) {
    if (slots >= kOverflowSlotCount) {
      *reinterpret_cast<uint64_t*>(blockStart) = kOverflowTag | slots;
      auto* obj = reinterpret_cast<HeapObject*>(blockStart + 8);
      obj->header_ = makeHeader(cls, fmt, kOverflowSlotCount);
      return obj;
    }
    auto* obj = reinterpret_cast<HeapObject*>(blockStart);
    obj->header_ = makeHeader(cls, fmt, slots);
    return obj;
  }

  // Formats [start, start+bytes) as one free chunk (bytes >= 8, multiple of 8).
  static HeapObject* formatFreeChunk(uintptr_t start, size_t bytes) {
    size_t words = bytes / 8;
    if (words - 1 >= kOverflowSlotCount && words >= 2 + kOverflowSlotCount) {
      return initializeAt(start, reserved_class::kFreeChunk, Format::Words, words - 2);
    }
    // Small enough to have no overflow word (at most 255 words: slot count <= 254).
    if (words - 1 < kOverflowSlotCount) {
      return initializeAt(start, reserved_class::kFreeChunk, Format::Words, words - 1);
    }
    // Exactly 256 words: cannot have slot count 255 without an overflow word, so split off
    // a one-word filler at the end.
    HeapObject* first = initializeAt(start, reserved_class::kFreeChunk, Format::Words, words - 2);
    initializeAt(start + (words - 1) * 8, reserved_class::kFreeChunk, Format::Words, 0);
    return first;
  }

 private:
  bool bit(unsigned b) const { return (header_ >> b) & 1; }
  void setBit(unsigned b, bool v) { header_ = v ? (header_ | (uint64_t(1) << b)) : (header_ & ~(uint64_t(1) << b)); }
  uint64_t overflowWord() const { return *(reinterpret_cast<const uint64_t*>(this) - 1); }

  uint64_t header_;
};

static_assert(sizeof(HeapObject) == 8, "the header is exactly one word");
static_assert(HeapObject::kSlotCountShift + 8 == 64, "slot count is the top byte");
static_assert(HeapObject::kHashShift + HeapObject::kHashBits == HeapObject::kPinnedBit,
              "hash field ends where the pinned bit starts");
static_assert(HeapObject::kFormatShift + 5 == HeapObject::kMarkedBit, "format is 5 bits");
static_assert(kFormatBytesAsciiBit == 1 << 3, "isKnownAscii reads bit 3 of the format");
static_assert(HeapObject::kAgeShift == kClassIndexBits, "age follows the class index");

inline size_t HeapObject::pointerSlotCount() const {
  if (isForwarded()) return 1;
  Format f = format();
  if (!formatHasPointers(f)) return 0;
  if (f == Format::Stack) {
    // Slot 0 of a stack holds the index of its top live slot as a SmallInteger.
    Oop top = slots()[0];
    return top.isSmallInteger() ? size_t(top.smallInteger()) + 1 : 1;
  }
  return slotCount();
}

inline void HeapObject::setSlotCountNoOverflowChange(uint64_t n) {
  if (hasOverflowWord()) {
    *(reinterpret_cast<uint64_t*>(this) - 1) = kOverflowTag | n;
  } else {
    header_ = (header_ & ~(kSlotCountMask << kSlotCountShift)) | (n << kSlotCountShift);
  }
}

}  // namespace space
