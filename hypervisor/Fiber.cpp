// Fiber: see Fiber.h.
#include "hypervisor/Fiber.h"

#include <boost/context/protected_fixedsize_stack.hpp>
#include <utility>

#include "vm/LongOperation.h"

#if defined(__SANITIZE_ADDRESS__)
#define ESPELL_ASAN_FIBERS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ESPELL_ASAN_FIBERS 1
#endif
#endif

#ifdef ESPELL_ASAN_FIBERS
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace hypervisor {

namespace ctx = boost::context;

namespace {
#ifdef ESPELL_ASAN_FIBERS
inline void startSwitch(void** fakeStack, const void* bottom, size_t size) {
  __sanitizer_start_switch_fiber(fakeStack, bottom, size);
}
inline void finishSwitch(void* fakeStack, const void** oldBottom, size_t* oldSize) {
  __sanitizer_finish_switch_fiber(fakeStack, oldBottom, oldSize);
}
// A fiber destroyed unfinished leaves its frames' redzones poisoned; the sanitizer keeps
// that shadow after munmap, so a later mapping at the same address would look like stack.
inline void unpoisonStack(void* bottom, size_t size) {
  __asan_unpoison_memory_region(bottom, size);
}
#else
inline void unpoisonStack(void*, size_t) {}
inline void startSwitch(void**, const void*, size_t) {}
inline void finishSwitch(void*, const void**, size_t*) {}
#endif
}  // namespace

// A guarded fixed-size stack that remembers where it is (for the sanitizer).
struct Fiber::StackRecorder {
  ctx::protected_fixedsize_stack stacks;
  Fiber* fiber;
  ctx::stack_context allocate() {
    ctx::stack_context sc = stacks.allocate();
    fiber->stackBottom_ = static_cast<char*>(sc.sp) - sc.size;
    fiber->stackSize_ = sc.size;
    return sc;
  }
  void deallocate(ctx::stack_context& sc) noexcept {
    unpoisonStack(static_cast<char*>(sc.sp) - sc.size, sc.size);
    stacks.deallocate(sc);
  }
};

Fiber::Fiber(std::function<void()> body, size_t stackBytes) : body_(std::move(body)) {
  self_ = ctx::fiber(std::allocator_arg, StackRecorder{ctx::protected_fixedsize_stack(stackBytes), this},
                     [this](ctx::fiber&& caller) {
                       finishSwitch(nullptr, &callerBottom_, &callerSize_);
                       caller_ = std::move(caller);
                       try {
                         body_();
                       } catch (const ctx::detail::forced_unwind&) {
                         throw;  // the fiber is being destroyed unfinished: let Boost unwind it
                       } catch (...) {
                         failure_ = std::current_exception();
                       }
                       finished_ = true;
                       startSwitch(nullptr, callerBottom_, callerSize_);
                       return std::move(caller_);
                     });
}

Fiber::~Fiber() = default;  // an unfinished fiber's stack is unwound by Boost

void Fiber::resume() {
  if (finished_ || running_) return;
  running_ = true;
  started_ = true;
  void* fake = nullptr;
  vm::LongOperationWatcher* watcher = vm::LongOperation::current;  // this thread's, per fiber
  startSwitch(&fake, stackBottom_, stackSize_);
  self_ = std::move(self_).resume();
  finishSwitch(fake, nullptr, nullptr);
  vm::LongOperation::current = watcher;
  running_ = false;
  if (failure_) std::rethrow_exception(std::exchange(failure_, nullptr));
}

void Fiber::suspend() {
  void* fake = nullptr;
  vm::LongOperationWatcher* watcher = vm::LongOperation::current;
  startSwitch(&fake, callerBottom_, callerSize_);
  caller_ = std::move(caller_).resume();
  finishSwitch(fake, &callerBottom_, &callerSize_);
  vm::LongOperation::current = watcher;
}

}  // namespace hypervisor
