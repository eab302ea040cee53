// Assert: ESPELL_ASSERT(condition, message) states an invariant the code relies on. Debug
// and sanitizer builds (every build without NDEBUG; meson's b_ndebug=if-release) check it
// and abort with the message, the condition and the place; release builds compile it away
// entirely, so it may sit on the hottest paths (the dispatch loop checks sp and ip with it).
// ESPELL_ASSERTIONS is 1 where assertions are checked, for code that exists only to check.
#pragma once

#ifdef NDEBUG
#define ESPELL_ASSERTIONS 0
#define ESPELL_ASSERT(condition, message) ((void)0)
#else
#define ESPELL_ASSERTIONS 1
#define ESPELL_ASSERT(condition, message) \
  ((condition) ? (void)0 : ::space::assertionFailed(#condition, message, __FILE__, __LINE__))
#endif

namespace space {

// Reports a broken invariant on standard error and aborts.
[[noreturn]] void assertionFailed(const char* condition, const char* message, const char* file, int line);

}  // namespace space
