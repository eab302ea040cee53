// Reservation: one contiguous range of virtual address space owned by a space. Every heap
// byte of the space (nursery and old segments) lies inside it, so "does this oop belong to
// this space" is a range check and page protection can cover exactly one space.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace space {

class Reservation {
 public:
  static constexpr size_t kPageSize = 4096;
  static constexpr size_t kHugePageSize = size_t(2) << 20;  // a transparent huge page on x86-64

  // Reserves `bytes` (rounded up to pages) of inaccessible address space, at `preferredBase`
  // when that range is free (0 = anywhere). Throws std::runtime_error when it cannot.
  Reservation(size_t bytes, uintptr_t preferredBase);
  ~Reservation();
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;

  uintptr_t base() const { return base_; }
  uintptr_t end() const { return base_ + size_; }
  size_t size() const { return size_; }
  bool contains(uintptr_t address) const { return address - base_ < size_; }

  // Makes [address, address+bytes) readable and writable (zero-filled on first touch).
  void commit(uintptr_t address, size_t bytes);
  // Asks for transparent huge pages over a committed range (fewer TLB misses when the
  // scavenger touches survivors scattered over a large eden). Advisory; failures ignored.
  void adviseHugePages(uintptr_t address, size_t bytes);
  // Faults the pages of [address, address+bytes) in at once, writable, before a run of
  // writes to fresh memory (one system call instead of a fault per page). Advisory: does
  // nothing where the kernel lacks MADV_POPULATE_WRITE or a page is write-protected.
  static void populate(uintptr_t address, size_t bytes);
  // Drops the pages' contents (they read as zero again) but keeps the range accessible.
  void releasePages(uintptr_t address, size_t bytes);
  // Bytes of the pages of [start, end) (page aligned) the process has resident (mincore).
  static size_t residentBytes(uintptr_t start, uintptr_t end);
  // Returns the pages to the OS and makes the range inaccessible again.
  void decommit(uintptr_t address, size_t bytes);

  static size_t roundUpToPage(size_t n) { return (n + kPageSize - 1) & ~(kPageSize - 1); }

 private:
  uintptr_t base_ = 0;
  size_t size_ = 0;
};

}  // namespace space
