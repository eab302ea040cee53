// Assert: see Assert.h.
#include "space/Assert.h"

#include <cstdio>
#include <cstdlib>

namespace space {

void assertionFailed(const char* condition, const char* message, const char* file, int line) {
  std::fflush(stdout);
  std::fprintf(stderr, "espell: internal invariant broken at %s:%d: %s (%s)\n", file, line, message, condition);
  std::fflush(stderr);
  std::abort();
}

}  // namespace space
