// ZeroMappedBytes: reads as zeros and takes memory only for the pages written, so a
// capture's per-page flags cost its pause nothing (image/ZeroMappedBytes.h).
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include <doctest/doctest.h>

#include "image/ZeroMappedBytes.h"

using image::ZeroMappedBytes;

namespace {

constexpr size_t kPage = 4096;

// Pages of [p, p + bytes) that have memory behind them.
size_t residentPages(const uint8_t* p, size_t bytes) {
  std::vector<unsigned char> resident((bytes + kPage - 1) / kPage);
  REQUIRE(mincore(const_cast<uint8_t*>(p), bytes, resident.data()) == 0);
  size_t n = 0;
  for (unsigned char r : resident) n += r & 1;
  return n;
}

}  // namespace

TEST_CASE("ZeroMappedBytes read as zeros and take memory only for the pages written") {
  constexpr size_t kBytes = 64 * kPage;  // under a huge page: each write faults in one page
  ZeroMappedBytes flags(kBytes, "test flags");
  REQUIRE(flags.data() != nullptr);
  CHECK(flags.size() == kBytes);
  CHECK(residentPages(flags.data(), kBytes) == 0);

  flags.data()[5 * kPage + 7] = 1;
  flags.data()[40 * kPage] = 2;
  CHECK(residentPages(flags.data(), kBytes) == 2);

  size_t sum = 0;
  for (size_t i = 0; i < kBytes; i++) sum += flags.data()[i];
  CHECK(sum == 3);
}

TEST_CASE("An empty ZeroMappedBytes maps nothing") {
  ZeroMappedBytes none(0, "no flags");
  CHECK(none.data() == nullptr);
  CHECK(none.size() == 0);
}
