// ImageWriter: one snapshot of a space into an image directory. The caller pauses the
// space and calls capture() — the state beside the pages is recorded and the pages that
// hold objects, the nursery's first, are captured (PageWriter: copy-on-write, copy or fork) —
// then resumes the space at once and keeps it running until finished(); finish() writes
// the manifest and puts the directory in place.
//
// Crash safety: everything is written into a hidden sibling (".NAME.partial-PID"), each
// file fsynced, the manifest last; only then is it renamed to NAME (an image already there
// is replaced: renamed aside, then removed) and the parent directory fsynced. A process
// killed while writing leaves at most the hidden partial directory, never a NAME that
// looks complete; the next snapshot into the same NAME removes such leftovers.
//
// While a cow snapshot streams the live pages the space must not release or rewrite them
// wholesale: collections that are merely due are put off, and those that cannot be (an
// allocation failing, a checkpoint) first wait for the writer (Space::holdPages). Copy and
// fork hold their own copy once the pause ends.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "image/ArmedProtection.h"
#include "image/ImageManifest.h"
#include "image/PageWriter.h"
#include "space/Space.h"
#include "vm/Runtime.h"

namespace image {

struct SnapshotReport {
  std::string directory;
  std::string space;
  std::string mode;
  std::string protection;
  int64_t reachPauseMicros = 0;      // from the request until the space was paused
  int64_t scavengeAheadMicros = 0;   // of which: a scavenge that emptied the nursery first (cow; 0: none)
  int64_t pauseMicros = 0;           // the space stood still: paused until resumed
  int64_t pauseCpuMicros = 0;        // of which the VM's thread ran (the rest it waited for a core)
  int64_t stateMicros = 0;           // of which: recording the state beside the pages
  int64_t captureMicros = 0;         // of which: capturing the pages (protection, copy or fork)
  int64_t armMicros = 0;             // cow armed ahead of the pause: protecting while the space ran on
  size_t pagesProtectedInPause = 0;  // cow: every page, or when armed, those written or added since
  size_t heapBytes = 0;              // bytes of the segments captured
  size_t freeBytes = 0;              // of them, old space's free chunks at the pause (contents not needed)
  size_t pagesWritten = 0;
  size_t pagesSavedByCow = 0;
  size_t zeroPagesSaved = 0;  // cow: of the pages saved, those found all zeros (nothing copied)
  size_t pagesSpilled = 0;    // cow: saved copies moved to disk until the writer reached them
  size_t savesWaited = 0;     // cow: writes that waited for the writer (see PageWriteReport)
  int64_t pacedMicros = 0;    // cow: time the writer waited, holding its rate while the program was busy
  size_t peakExtraBytes = 0;
  size_t bytesWritten = 0;
  size_t holeBytes = 0;       // of them, pages never touched, left as holes (cow)
  bool directWrites = false;  // cow: written with O_DIRECT (no page cache)
  int64_t cachedMicros = 0;   // from the resume until the last write(2) returned (page cache, or disk unflushed)
  int64_t writeMicros = 0;    // from the resume until the last segment was fsynced
  int64_t totalMicros = 0;    // from the request until the image was in place
  double throughputMiBPerSecond() const;        // bytesWritten over writeMicros: durable
  double cachedThroughputMiBPerSecond() const;  // bytesWritten over cachedMicros
  std::string toJson() const;
  std::string toText() const;
};

CaptureMode parseCaptureMode(const std::string& name);  // throws ImageError
const char* captureModeName(CaptureMode mode);

class ImageWriter {
 public:
  // Checks that `directory`'s parent exists and that `directory` is absent or an image,
  // and makes the partial directory. Throws ImageError.
  ImageWriter(std::string directory, CaptureMode mode);
  // Unfinished: waits for the writer and removes the partial directory.
  ~ImageWriter();
  ImageWriter(const ImageWriter&) = delete;
  ImageWriter& operator=(const ImageWriter&) = delete;

  // Before the pause: whatever the capture would wait for runs now (a snapshot still
  // being written, the rest of a lazy sweep: space/LazySweep.h). Then, cow only: starts
  // write-protecting the space's pages on a thread of its own while the space runs on
  // (ArmedProtection.h), so that the pause protects only what is written meanwhile.
  // Answers false, arming nothing, in the other modes or where nothing can arm (the
  // capture then protects every page in the pause). The caller keeps the space running
  // until armed() and then pauses it.
  bool arm(space::Space& space);
  bool armed() const;
  // In the pause (no process of the space running): records the space and its runtime and
  // captures the pages. `spaceName` is "guest" or "hypervisor".
  void capture(space::Space& space, vm::Runtime& runtime, const std::string& spaceName);
  bool finished();
  // Drops the hold on the space's pages (on the space's thread, once finished()); after it
  // finish() may run on any thread while the space runs on.
  void releaseSpace();
  // Waits for the pages, writes the manifest and renames the image into place (fsyncs
  // included: tens of milliseconds, which is why it may run beside the space).
  SnapshotReport finish();

 private:
  void waitForPages();
  std::string directory_;
  std::string partial_;
  CaptureMode mode_;
  Manifest manifest_;
  space::Space* space_ = nullptr;
  std::unique_ptr<PageWriter> pages_;
  std::unique_ptr<ArmedProtection> armed_;  // from arm() until capture() (or a full collection)
  space::Space* armedSpace_ = nullptr;
  bool pagesDone_ = false;
  std::string pagesFailure_;  // the writer's failure, once pagesDone_; finish() throws it
  bool done_ = false;
  PageWriteReport pageReport_;
  SnapshotReport report_;
  int64_t startedAt_ = 0;
};

}  // namespace image
