// PageResidence: which pages of this process's private anonymous memory were never given
// contents (no page in memory, none swapped out): they read as zeros. A copy-on-write
// writer leaves those pages as holes in its files instead of reading them, since reading
// a page never touched costs a fault and a fresh zeroed page (up to 18 us on a virtual
// machine, and memory the capture never gives back), and writing it costs the copy into
// the page cache and the disk's time. Reads /proc/self/pagemap and /proc/self/maps. A page
// never touched that userfaultfd write-protects is told apart from a swapped-out one only
// with CAP_SYS_ADMIN (pagemap hides swap entries' types otherwise): without it, only pages
// with no entry at all (the mprotect fallback's) are found empty.
#pragma once

#include <cstddef>
#include <cstdint>

namespace image {

class PageResidence {
 public:
  // Opens /proc/self/pagemap; when it cannot, usable() is false and nothing is reported
  // unpopulated.
  PageResidence();
  ~PageResidence();
  PageResidence(const PageResidence&) = delete;
  PageResidence& operator=(const PageResidence&) = delete;

  bool usable() const { return fd_ >= 0; }
  // Whether all of [start, end) is mapped private anonymous memory: no file (nor shared
  // memory) behind it, whose untouched pages would hold the file's bytes rather than zeros.
  static bool anonymous(uintptr_t start, uintptr_t end);
  // For each of the `count` pages from the page-aligned `start`, sets out[i] to whether it
  // has never been populated. Answers false (and sets nothing) when pagemap cannot be read.
  bool unpopulated(uintptr_t start, size_t count, bool* out) const;

 private:
  int fd_ = -1;
};

}  // namespace image
