// IoPoller: a descriptor stays registered, edge-triggered; an edge nobody waits for is
// kept for the next wait; a waiter restored by a checkpoint sees what is ready now; a
// writer is woken once the descriptor is writable; forgetting a descriptor wakes its
// waiters.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "tests/unit/vm/RuntimeFixture.h"
#include "vm/IoPoller.h"
#include "vm/ObjectLayouts.h"
#include "vm/Scheduler.h"

using vm::test::RuntimeFixture;

namespace {

// A connected pair of non-blocking stream sockets.
struct SocketPair {
  int fds[2] = {-1, -1};
  SocketPair() { REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0); }
  ~SocketPair() {
    close(fds[0]);
    close(fds[1]);
  }
  void send(const char* text) { REQUIRE(write(fds[1], text, strlen(text)) == ssize_t(strlen(text))); }
  size_t drain() {
    char buf[256];
    size_t total = 0;
    for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) total += size_t(n);
    return total;
  }
};

struct PollerFixture : RuntimeFixture {
  vm::IoPoller& io() { return rt->scheduler().io(); }
  space::Handle semaphore() { return space::Handle(space, rt->evaluate("^ Semaphore new")); }
  static int64_t signals(const space::Handle& s) {
    return s.get().object()->slot(vm::list_slot::kExcessSignals).smallInteger();
  }
  void watch(int fd, vm::IoPoller::Interest interest, const space::Handle& s) {
    io().watch(fd, interest, space::Handle(space, s.get()), rt->scheduler());
  }
};

}  // namespace

TEST_CASE("IoPoller: a readable edge wakes the waiter; one nobody waits for wakes the next wait at once") {
  PollerFixture f;
  SocketPair p;
  space::Handle first = f.semaphore();
  f.watch(p.fds[0], vm::IoPoller::Readable, first);
  CHECK(f.io().hasWatchers());
  CHECK(f.io().poll(0, f.rt->scheduler()) == 0);  // nothing to read yet
  p.send("a");
  CHECK(f.io().poll(0, f.rt->scheduler()) == 1);
  CHECK(PollerFixture::signals(first) == 1);
  CHECK_FALSE(f.io().hasWatchers());
  // Data while nobody waits: the edge is kept.
  p.send("b");
  CHECK(f.io().poll(0, f.rt->scheduler()) == 0);
  CHECK(p.drain() == 2);
  space::Handle second = f.semaphore();
  f.watch(p.fds[0], vm::IoPoller::Readable, second);
  CHECK(PollerFixture::signals(second) == 1);  // at once (the edge was stale: a read finds nothing)
  CHECK_FALSE(f.io().hasWatchers());
  // The next wait waits for new data.
  space::Handle third = f.semaphore();
  f.watch(p.fds[0], vm::IoPoller::Readable, third);
  CHECK(f.io().hasWatchers());
  CHECK(f.io().poll(0, f.rt->scheduler()) == 0);
  CHECK(PollerFixture::signals(third) == 0);
  p.send("c");
  CHECK(f.io().poll(0, f.rt->scheduler()) == 1);
  CHECK(PollerFixture::signals(third) == 1);
  // The peer closing is an edge too.
  CHECK(p.drain() == 1);
  space::Handle fourth = f.semaphore();
  f.watch(p.fds[0], vm::IoPoller::Readable, fourth);
  shutdown(p.fds[1], SHUT_WR);
  CHECK(f.io().poll(0, f.rt->scheduler()) == 1);
  CHECK(PollerFixture::signals(fourth) == 1);
}

TEST_CASE("IoPoller: a writer is woken when writable; forgetting a descriptor wakes its waiters") {
  PollerFixture f;
  SocketPair p;
  space::Handle writer = f.semaphore();
  f.watch(p.fds[0], vm::IoPoller::Writable, writer);
  CHECK(f.io().poll(0, f.rt->scheduler()) == 1);  // an empty socket is writable
  CHECK(PollerFixture::signals(writer) == 1);
  space::Handle reader = f.semaphore();
  f.watch(p.fds[0], vm::IoPoller::Readable, reader);
  CHECK(f.io().hasWatchers());
  f.io().forget(p.fds[0], f.rt->scheduler());
  CHECK(PollerFixture::signals(reader) == 1);
  CHECK_FALSE(f.io().hasWatchers());
  CHECK(f.io().watches().empty());
}

TEST_CASE("IoPoller: a waiter restored from a checkpoint sees what is ready now, though its edge was taken") {
  PollerFixture f;
  SocketPair p;
  space::Handle waiter = f.semaphore();
  f.watch(p.fds[0], vm::IoPoller::Readable, waiter);
  std::vector<vm::IoPoller::WatchState> saved = f.io().watches();
  uint64_t polls = f.io().pollsWithEvents();
  REQUIRE(saved.size() == 1);
  p.send("x");
  CHECK(f.io().poll(0, f.rt->scheduler()) == 1);  // the edge is taken, the waiter gone
  CHECK_FALSE(f.io().hasWatchers());
  f.io().restoreWatches(f.space, saved, polls);
  CHECK(f.io().hasWatchers());
  CHECK(f.io().poll(0, f.rt->scheduler()) == 1);  // the data is still there: reported again
  CHECK(PollerFixture::signals(waiter) == 2);
}

TEST_CASE("IoPoller: with no edge taken since the checkpoint, a restored waiter still gets the edge pending") {
  PollerFixture f;
  SocketPair p;
  space::Handle waiter = f.semaphore();
  f.watch(p.fds[0], vm::IoPoller::Readable, waiter);
  std::vector<vm::IoPoller::WatchState> saved = f.io().watches();
  uint64_t polls = f.io().pollsWithEvents();
  p.send("x");                                   // pending in epoll, not polled
  f.io().restoreWatches(f.space, saved, polls);  // registrations as they were: no call
  CHECK(f.io().hasWatchers());
  CHECK(f.io().poll(0, f.rt->scheduler()) == 1);
  CHECK(PollerFixture::signals(waiter) == 1);
}

TEST_CASE("IoPoller: the scheduler takes the edges of descriptors nobody waits for, so epoll's descriptor goes quiet") {
  PollerFixture f;
  SocketPair p;
  space::Handle s = f.semaphore();
  f.watch(p.fds[0], vm::IoPoller::Readable, s);
  p.send("a");
  CHECK(f.io().poll(0, f.rt->scheduler()) == 1);
  CHECK_FALSE(f.io().hasWatchers());
  CHECK(f.io().hasDescriptors());
  p.send("b");  // nobody waits now
  pollfd epoll{f.io().fd(), POLLIN, 0};
  CHECK(::poll(&epoll, 1, 0) == 1);  // a host watching the space sees an event...
  f.rt->scheduler().pollEvents();    // ...which the space's next look at its events takes
  CHECK(::poll(&epoll, 1, 0) == 0);  // so the host does not wake up again and again
}
