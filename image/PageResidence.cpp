// PageResidence: see PageResidence.h.
#include "image/PageResidence.h"

#include <fcntl.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>

namespace image {

namespace {

constexpr size_t kPage = 4096;
// pagemap's entry per page (Documentation/admin-guide/mm/pagemap.rst): bit 63 "present in
// memory", bit 62 "swap entry", bits 0-54 for a swap entry its type (bits 0-4) and offset
// (from bit 5), shown only to a process with CAP_SYS_ADMIN (0 otherwise).
constexpr uint64_t kPresent = uint64_t(1) << 63;
constexpr uint64_t kSwapEntry = uint64_t(1) << 62;
constexpr uint64_t kFrameBits = (uint64_t(1) << 55) - 1;
// A page never touched that userfaultfd write-protects (UFFD_FEATURE_WP_UNPOPULATED) gets a
// "pte marker", which pagemap shows as a swap entry of the last type (31: the marker type,
// above every swap file and the migration entries) with offset 1 (PTE_MARKER_UFFD_WP).
// Only that exact entry counts as empty: a real swapped-out page, or one being migrated,
// has contents, and when the type is hidden (no privilege) nothing can be told apart.
constexpr uint64_t kUffdWpMarker = (uint64_t(1) << 5) | 31;

bool empty(uint64_t entry) {
  if (entry & kPresent) return false;
  if (!(entry & kSwapEntry)) return true;  // no page at all
  return (entry & kFrameBits) == kUffdWpMarker;
}
constexpr size_t kEntriesPerRead = 512;  // 4 KiB of entries, on the stack

}  // namespace

PageResidence::PageResidence() : fd_(open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC)) {}

PageResidence::~PageResidence() {
  if (fd_ >= 0) close(fd_);
}

bool PageResidence::anonymous(uintptr_t start, uintptr_t end) {
  if (start >= end) return true;
  FILE* maps = std::fopen("/proc/self/maps", "re");
  if (!maps) return false;
  // Mappings come in address order; every byte of [start, end) must lie in one whose
  // inode is 0 (no file, no shared memory) and that is private ('p').
  uintptr_t covered = start;
  char line[512];
  while (covered < end && std::fgets(line, sizeof line, maps)) {
    uintptr_t from = 0, to = 0;
    char perms[8] = {};
    unsigned long long inode = 0;
    if (std::sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s %*s %*s %llu", &from, &to, perms, &inode) != 4) break;
    if (to <= covered) continue;
    if (from > covered || inode != 0 || perms[3] != 'p') break;
    covered = to;
  }
  std::fclose(maps);
  return covered >= end;
}

bool PageResidence::unpopulated(uintptr_t start, size_t count, bool* out) const {
  if (fd_ < 0) return false;
  uint64_t entries[kEntriesPerRead];
  for (size_t done = 0; done < count;) {
    size_t n = count - done < kEntriesPerRead ? count - done : kEntriesPerRead;
    off_t at = off_t((start / kPage + done) * sizeof(uint64_t));
    if (pread(fd_, entries, n * sizeof(uint64_t), at) != ssize_t(n * sizeof(uint64_t))) return false;
    for (size_t i = 0; i < n; i++) out[done + i] = empty(entries[i]);
    done += n;
  }
  return true;
}

}  // namespace image
