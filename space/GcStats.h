// GcStats: counters a space keeps about allocation and collection, for reports and benches.
#pragma once

#include <cstdint>

#include "space/ThreadUsage.h"

namespace space {

struct GcStats {
  uint64_t scavenges = 0;
  uint64_t fullCollections = 0;
  uint64_t scavengeNanos = 0;  // total time in scavenges
  uint64_t maxScavengeNanos = 0;
  uint64_t lastScavengeNanos = 0;
  // Of scavengeNanos, the time the thread ran (space/ThreadUsage.h); and the longest
  // scavenge (maxScavengeNanos) as the thread lived it. Its wall time well over its CPU
  // time with preemptions: it waited for a core; with waits: for a page another thread
  // served (a snapshot's saved copy) or a lock. Not the collector's own time, either way.
  uint64_t scavengeCpuNanos = 0;
  ThreadUsage longestScavenge;
  uint64_t fullCollectionNanos = 0;  // total time in full collections
  uint64_t maxFullCollectionNanos = 0;
  // Of fullCollectionNanos: marking (MarkSweep), and sweeping.
  uint64_t fullCollectionMarkNanos = 0;
  uint64_t fullCollectionSweepNanos = 0;
  // Of fullCollectionSweepNanos: giving pages back (empty segments, large free runs).
  uint64_t fullCollectionReleaseNanos = 0;
  // Markings in steps (space/Marker.h): started, finished by a full collection, dropped
  // (Space::abandonMarking); the steps, and their time outside the collections' pauses
  // (a step runs after a scavenge or an old allocation, and the start's root scan counts
  // as one).
  uint64_t incrementalMarkings = 0;
  uint64_t incrementalCollections = 0;
  uint64_t abandonedMarkings = 0;
  uint64_t markingSteps = 0;
  uint64_t markingStepNanos = 0;
  uint64_t maxMarkingStepNanos = 0;
  uint64_t markingStepCpuNanos = 0;  // as scavengeCpuNanos, for the steps
  ThreadUsage longestMarkingStep;    // as longestScavenge, for the steps
  // Full collections whose sweep ran lazily (space/LazySweep.h), to its end; those a
  // stop-the-world collection dropped; the time sweeping outside the pauses, and its
  // longest stretch in one go (a step, or a segment an allocation swept). Of those ended,
  // how many a heap walk ended in one go (Space::finishSweeping) with segments left: the
  // program waited for them.
  uint64_t lazySweeps = 0;
  uint64_t droppedLazySweeps = 0;
  uint64_t lazySweepsFinishedAtOnce = 0;
  uint64_t lazySweepNanos = 0;
  uint64_t maxLazySweepStepNanos = 0;
  uint64_t bytesAllocatedYoung = 0;  // counted at each scavenge (eden bytes used)
  uint64_t bytesAllocatedOld = 0;    // direct old-space allocations
  uint64_t bytesSurvived = 0;        // copied within the nursery
  uint64_t bytesPromoted = 0;        // copied from the nursery to old space
  uint64_t becomes = 0;
  // The phases of the last swapIdentities: validating the pairs, reserving room for the
  // copies, swapping contents (copies and forwarders), fixing roots and tables.
  struct SwapPhases {
    uint64_t validateNanos = 0, reserveNanos = 0, swapNanos = 0, fixNanos = 0;
  } lastSwap;
  uint64_t peakLiveBytes = 0;      // largest old-space live size seen by a full collection
  uint64_t idleReleases = 0;       // releaseMemoryWhileIdle calls that collected and released
  uint64_t idleReleasedBytes = 0;  // address range they released (resident or not)
};

}  // namespace space
