// ZeroMappedBytes: an array of bytes that reads as zeros and costs nothing until written.
// It is anonymous memory mapped on construction, not allocated and cleared: each of its
// pages is faulted in by its first write. A capture keeps one flag byte per heap page
// (340,000 for a 1 GiB heap); cleared in the pause, their 83 pages cost the pause a first
// touch each, up to 18 us on a virtual machine (1.0-1.4 ms of a 1.5 ms idle pause, before
// these flags were mapped). Mapped, the pages are faulted in later, by whichever thread
// first sets a flag there (the writer, a fault's service thread), with the program running.
#pragma once

#include <cstddef>
#include <cstdint>

namespace image {

class ZeroMappedBytes {
 public:
  // `count` bytes, all zero. Throws std::runtime_error naming `what` when the memory
  // cannot be mapped.
  ZeroMappedBytes(size_t count, const char* what);
  ~ZeroMappedBytes();
  ZeroMappedBytes(const ZeroMappedBytes&) = delete;
  ZeroMappedBytes& operator=(const ZeroMappedBytes&) = delete;

  // Null when count is 0. Bytes shared between threads are accessed through std::atomic_ref.
  uint8_t* data() const { return bytes_; }
  size_t size() const { return count_; }

 private:
  uint8_t* bytes_ = nullptr;
  size_t count_ = 0;
};

}  // namespace image
