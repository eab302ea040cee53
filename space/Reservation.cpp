// Reservation: anonymous PROT_NONE mappings committed and decommitted page-wise.
#include "space/Reservation.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace space {

Reservation::Reservation(size_t bytes, uintptr_t preferredBase) {
  size_ = roundUpToPage(bytes);
  void* hint = reinterpret_cast<void*>(preferredBase);
  int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
  void* p = MAP_FAILED;
  if (preferredBase != 0) {
    p = mmap(hint, size_, PROT_NONE, flags | MAP_FIXED_NOREPLACE, -1, 0);
    // Kernels without MAP_FIXED_NOREPLACE treat it as a hint; accept only an exact fit.
    if (p != MAP_FAILED && p != hint) {
      munmap(p, size_);
      p = MAP_FAILED;
    }
  }
  if (p == MAP_FAILED) {
    // Anywhere: over-reserve and trim so the base is 2 MiB aligned (huge-page friendly).
    constexpr size_t kAlign = size_t(2) << 20;
    void* q = mmap(nullptr, size_ + kAlign, PROT_NONE, flags, -1, 0);
    if (q == MAP_FAILED) {
      throw std::runtime_error("cannot reserve " + std::to_string(size_ >> 20) +
                               " MiB of address space: " + std::strerror(errno));
    }
    uintptr_t raw = reinterpret_cast<uintptr_t>(q);
    uintptr_t aligned = (raw + kAlign - 1) & ~(kAlign - 1);
    if (aligned > raw) munmap(q, aligned - raw);
    if (aligned + size_ < raw + size_ + kAlign) {
      munmap(reinterpret_cast<void*>(aligned + size_), raw + size_ + kAlign - (aligned + size_));
    }
    p = reinterpret_cast<void*>(aligned);
  }
  base_ = reinterpret_cast<uintptr_t>(p);
}

Reservation::~Reservation() {
  if (base_ != 0) munmap(reinterpret_cast<void*>(base_), size_);
}

void Reservation::commit(uintptr_t address, size_t bytes) {
  if (mprotect(reinterpret_cast<void*>(address), roundUpToPage(bytes), PROT_READ | PROT_WRITE) != 0) {
    throw std::runtime_error(std::string("cannot commit heap memory: ") + std::strerror(errno));
  }
}

void Reservation::adviseHugePages(uintptr_t address, size_t bytes) {
  madvise(reinterpret_cast<void*>(address), roundUpToPage(bytes), MADV_HUGEPAGE);
}

void Reservation::populate(uintptr_t address, size_t bytes) {
#ifdef MADV_POPULATE_WRITE
  uintptr_t start = address & ~(kPageSize - 1);
  madvise(reinterpret_cast<void*>(start), roundUpToPage(address + bytes - start), MADV_POPULATE_WRITE);
#else
  (void)address;
  (void)bytes;
#endif
}

void Reservation::releasePages(uintptr_t address, size_t bytes) {
  madvise(reinterpret_cast<void*>(address), roundUpToPage(bytes), MADV_DONTNEED);
}

size_t Reservation::residentBytes(uintptr_t start, uintptr_t end) {
  size_t pages = (end - start) / kPageSize;
  if (pages == 0) return 0;
  std::vector<unsigned char> resident(pages);
  if (mincore(reinterpret_cast<void*>(start), end - start, resident.data()) != 0) return 0;
  size_t n = 0;
  for (unsigned char page : resident) n += page & 1;
  return n * kPageSize;
}

void Reservation::decommit(uintptr_t address, size_t bytes) {
  size_t n = roundUpToPage(bytes);
  // MAP_FIXED over our own range atomically drops the pages and restores PROT_NONE.
  void* p = mmap(reinterpret_cast<void*>(address), n, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  if (p == MAP_FAILED) {
    throw std::runtime_error(std::string("cannot decommit heap memory: ") + std::strerror(errno));
  }
}

}  // namespace space
