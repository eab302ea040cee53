// SpillFile: where a copy-on-write writer puts the pages the program saved ahead of it, so
// that their copies stop costing memory until the writer reaches them. A copy-on-write
// snapshot's extra memory is the copies the fault path made of pages the program wrote
// before the writer got there (CapturedPages); a writer that runs slowly — at a low
// priority on cores the program's service keeps busy — lets them pile up for seconds.
// Spilled, a page costs a 4 KiB write now and a 4 KiB read when the writer reaches it, and
// no memory meanwhile.
//
// The file has no name (O_TMPFILE where the file system allows, else a name unlinked at
// once): nothing is left of it after a crash. Writes and reads bypass the page cache
// (O_DIRECT) where the file system allows, so that spilled pages do not simply move into
// the kernel's memory; elsewhere they go through it.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace image {

class SpillFile {
 public:
  static constexpr size_t kPageSize = 4096;

  // Opens the file in `directory`. Throws std::runtime_error naming the directory and errno
  // when it cannot.
  explicit SpillFile(const std::string& directory);
  ~SpillFile();
  SpillFile(const SpillFile&) = delete;
  SpillFile& operator=(const SpillFile&) = delete;

  // Appends `count` pages (each page aligned, kPageSize bytes) and answers the slot of the
  // first: page i is at slot first + i. Throws std::runtime_error on failure (nothing is
  // then known to be in the file).
  size_t append(const uint8_t* const* pages, size_t count);
  // Reads the page at `slot` into `out` (page aligned). Throws std::runtime_error.
  void read(size_t slot, uint8_t* out);
  bool direct() const { return direct_; }
  size_t pages() const { return slots_; }

 private:
  [[noreturn]] void fail(const char* what, int error) const;

  std::string directory_;  // names the file in failures
  int fd_ = -1;
  bool direct_ = false;
  size_t slots_ = 0;  // pages appended so far
};

}  // namespace image
