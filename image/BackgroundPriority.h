// BackgroundPriority: a snapshot's background threads (the writer, the hasher, the
// writes, the fsyncs) run under SCHED_IDLE: only on cores nothing else wants, and a wakeup
// of any other thread preempts them at once. The program they snapshot serves clients on
// the same cores meanwhile; on a machine of two cores the writer and the hasher would
// otherwise take up to a core and a half from it and its clients. On the busy hub
// (docs/PERFORMANCE.md) the clients' p99 during a snapshot stayed within 1.5x of the p99
// before it under SCHED_IDLE, against 6-9x at nice 10 and 4.6-7.3x at nice 19.
//
// The price is time: under load the writer gets what the program leaves (40-90 MiB/s on
// that hub, against 530-610 at nice 10), so the pages stay protected longer and the
// program's writes save more of them first; the writer spills those copies to disk
// (CowCapture::spillAtPages), which keeps the extra memory near its buffers however long
// it takes. Idle, it writes as fast as at any priority. ESPELL_SNAPSHOT_NICE=N runs the
// threads at niceness N instead (0: as the program), a faster writer that costs the
// clients more.
//
// The pages a capture writes first without pacing (a space's nursery, which the program's
// next scavenge writes all over: PageWriter) are written at the program's priority: the
// group starts unlowered (Lowering::WhenAsked) and the writer lowers it once past them.
// Under SCHED_IDLE on the busy hub the writer took up to 887 ms over a 17 MiB nursery; the
// first scavenge met its pages unwritten, saved each, and waited for room to save them
// (CapturedPages::boundShadow) up to 24 ms at a time: a 72 ms scavenge.
//
// Whoever waits for the writer (finish(), a full collection or a checkpoint: the program's
// thread, stopped until it is done) raises its threads back to the priority they started
// with (BackgroundThreads::raise): on cores that other processes keep busy, threads under
// SCHED_IDLE get almost nothing, and the program would wait on them until the cores free.
// Leaving SCHED_IDLE, or lowering a niceness, needs CAP_SYS_NICE or an RLIMIT_NICE that
// allows the niceness (20 - niceness or more); without either the raise is refused and
// the waiter waits at the threads' priority.
#pragma once

#include <sys/types.h>

#include <mutex>
#include <vector>

namespace image {

// Lowers the calling thread's priority (best effort: a failure leaves it as it was).
void lowerThreadPriority();

// When a group's members are lowered: as each joins, or all at once when asked (lower()).
enum class Lowering { AtOnce, WhenAsked };

// The background threads of one snapshot. Made on the program's thread, whose niceness a
// raise restores.
class BackgroundThreads {
 public:
  explicit BackgroundThreads(Lowering lowering = Lowering::AtOnce);
  BackgroundThreads(const BackgroundThreads&) = delete;
  BackgroundThreads& operator=(const BackgroundThreads&) = delete;

  // Joins the calling thread to `group` (nullptr: none, only lowered) for its life:
  // lowered, unless the group was raised already or waits to be lowered (lower()). Threads that a member starts join
  // the same group when they make their Member with current().
  class Member {
   public:
    explicit Member(BackgroundThreads* group);
    ~Member();
    Member(const Member&) = delete;
    Member& operator=(const Member&) = delete;

   private:
    BackgroundThreads* group_;
    pid_t tid_;
    BackgroundThreads* outer_;
  };

  // The group of the calling thread's Member, or nullptr.
  static BackgroundThreads* current();
  // Lowers every member, and the threads that join later, unless the group was raised
  // (someone waits for it). Lowering needs no privilege.
  void lower();
  // Raises every member, and the threads that join later, back to SCHED_OTHER at the
  // program's niceness. Answers false if the kernel refused any of them.
  bool raise();
  // Whether this process may raise a thread it lowered (CAP_SYS_NICE, or RLIMIT_NICE).
  static bool mayRaise();

 private:
  bool raiseThread(pid_t tid) const;  // under mutex_

  int programNice_;
  std::mutex mutex_;
  std::vector<pid_t> members_;  // Invariant: threads that are alive (a Member leaves first)
  bool lowered_;                // members are lowered as they join (from the start, or since lower())
  bool raised_ = false;
};

}  // namespace image
