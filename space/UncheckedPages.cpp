// UncheckedPages: see UncheckedPages.h.
#include "space/UncheckedPages.h"

#include <condition_variable>
#include <mutex>

namespace space {

namespace {
std::mutex lock;
std::condition_variable allChecked;
int checkers = 0;  // guarded by lock
}  // namespace

void beginUncheckedPages() {
  std::lock_guard<std::mutex> guard(lock);
  checkers++;
}

void endUncheckedPages() {
  std::lock_guard<std::mutex> guard(lock);
  if (--checkers == 0) allChecked.notify_all();
}

void awaitPagesChecked() {
  std::unique_lock<std::mutex> guard(lock);
  allChecked.wait(guard, [] { return checkers == 0; });
}

}  // namespace space
