// MarkBitmap: an anonymous mapping reserved without committing, cleared by the range
// the markings touched.
#include "space/MarkBitmap.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace space {

MarkBitmap::MarkBitmap(uintptr_t base, size_t bytes) : base_(base), wordCount_((bytes / 8 + 63) / 64) {
  void* p = mmap(nullptr, wordCount_ * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    throw std::runtime_error("cannot reserve the mark bitmap: " + std::string(std::strerror(errno)));
  }
  words_ = static_cast<uint64_t*>(p);
  lowWord_ = wordCount_;
}

MarkBitmap::~MarkBitmap() {
  munmap(words_, wordCount_ * 8);
}

void MarkBitmap::clear() {
  if (highWord_ > lowWord_) std::memset(words_ + lowWord_, 0, (highWord_ - lowWord_) * 8);
  lowWord_ = wordCount_;
  highWord_ = 0;
}

bool MarkBitmap::anyMarked() const {
  for (size_t i = lowWord_; i < highWord_; i++) {
    if (words_[i] != 0) return true;
  }
  return false;
}

}  // namespace space
