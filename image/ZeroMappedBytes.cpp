// ZeroMappedBytes: see ZeroMappedBytes.h.
#include "image/ZeroMappedBytes.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace image {

ZeroMappedBytes::ZeroMappedBytes(size_t count, const char* what) : count_(count) {
  if (count == 0) return;
  void* p = mmap(nullptr, count, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error(std::string("cannot map ") + what + ": " + std::strerror(errno));
  bytes_ = static_cast<uint8_t*>(p);
}

ZeroMappedBytes::~ZeroMappedBytes() {
  if (bytes_) munmap(bytes_, count_);
}

}  // namespace image
