// FirstTouchVerification: a resumed image's segments checked against their SHA-256 while
// the program already runs, with no byte of a segment read before its check has passed —
// as dm-verity checks a disk's blocks when they are read. Checking every segment first
// reads and hashes the whole image (0.5-0.7 s for 1 GiB on this machine kind), which
// resuming would otherwise not touch at all.
//
// The mapped segments start unreadable (PROT_NONE). A thread of its own hashes the segment
// files in order, from the files (never through the mappings), and makes each mapping
// readable and writable once its digest matches. A thread that touches a segment not yet
// checked faults (space/WriteFaults.h): the fault asks for that segment next and waits
// until it has passed, so the checker leaves a segment it is hashing for a wanted one.
// A segment that does not match ends the process through `onBadSegment`, naming the file:
// the program has not read that segment, though it may have run on the others already.
//
// While any segment is unchecked, space::capturesActive is raised, so system calls on heap
// memory touch their pages from user mode first (space/KernelWrites.h), and code that
// protects heap pages itself waits for the check to end (space/UncheckedPages.h).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "space/WriteFaults.h"

namespace image {

struct FirstTouchStats {
  size_t segments = 0;
  uint64_t bytes = 0;
  int64_t micros = 0;           // from construction until the last segment passed
  size_t faultsWaited = 0;      // faults that waited for their segment's check
  int64_t faultWaitMicros = 0;  // their waits, summed
};

class FirstTouchVerification final : private space::WriteFaultOwner {
 public:
  struct Segment {
    uintptr_t start = 0;  // page-aligned address of the segment's private file mapping
    uint64_t bytes = 0;   // the file's size; the mapping covers it rounded up to pages
    std::string path;
    std::string sha256;  // hex, as in the manifest
  };
  // Called on the checking thread with a message naming the file. Must end the process:
  // threads waiting for that segment never resume. Only async-signal-safe calls (write(2),
  // _exit): a thread that faulted may hold a lock (stdio's, say) while it waits.
  using BadSegment = std::function<void(const std::string& problem)>;
  using Checked = std::function<void(const FirstTouchStats&)>;

  // Makes every segment unreadable and starts checking. Throws std::runtime_error (nothing
  // changed then) when the protection cannot be set.
  FirstTouchVerification(std::vector<Segment> segments, BadSegment onBadSegment, Checked onChecked = {});
  // Stops checking; segments not checked yet stay unreadable (their mappings go next).
  ~FirstTouchVerification();
  FirstTouchVerification(const FirstTouchVerification&) = delete;
  FirstTouchVerification& operator=(const FirstTouchVerification&) = delete;

  // Blocks until every segment passed (or checking stopped).
  void waitUntilChecked();
  bool checked() const { return done_.load(std::memory_order_acquire); }
  // Final once checked().
  FirstTouchStats stats() const;

 private:
  enum State : uint32_t { kUnchecked = 0, kPassed = 1, kFailed = 2 };
  struct Suspended;

  bool handleWriteFault(uintptr_t address) override;
  void run();
  // Hashes segment i from `hashed` bytes on; answers false when it left off because
  // another segment is wanted (its progress is in `suspended`).
  bool check(size_t i, std::vector<unsigned char>& buffer, std::unique_ptr<Suspended>& suspended);
  void pass(size_t i);
  void fail(size_t i, const std::string& problem);
  size_t nextSegment(size_t& inOrder, const std::unique_ptr<Suspended>& suspended);
  void finish();

  // Sorted by address; fixed after construction, so the fault handler reads it freely.
  const std::vector<Segment> segments_;
  BadSegment onBadSegment_;
  Checked onChecked_;
  std::unique_ptr<std::atomic<uint32_t>[]> states_;  // a futex word per segment
  // 1: a fault waits for this segment; 2: it passed (a fault after that waits for nothing).
  std::unique_ptr<std::atomic<uint8_t>[]> wanted_;
  std::atomic<uint32_t> wantedCount_{0};  // segments wanted and not passed yet
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  std::atomic<int> handlersRunning_{0};
  std::atomic<size_t> faultsWaited_{0};
  std::atomic<int64_t> faultWaitMicros_{0};
  int64_t startMicros_ = 0;
  int64_t micros_ = 0;  // written by the checking thread before done_
  uint64_t bytes_ = 0;
  std::thread thread_;
};

}  // namespace image
