// BackgroundPriority: a snapshot's background threads (the writer, the hasher, the
// writes) run at a lower priority (nice 10), so that the program they snapshot, which
// serves clients on the same cores meanwhile, gets the larger share of them: on a machine
// of two cores the writer and the hasher would otherwise take up to one core and a half
// from it while it serves. Not the lowest: the longer the writer takes, the more pages the
// program saves first (BackgroundPriority.cpp has the measurements). The fault-handling
// thread keeps its priority: the program waits for it. ESPELL_SNAPSHOT_NICE=N sets
// another niceness (0: as the program).
#pragma once

namespace image {

// Lowers the calling thread's priority (best effort: a failure leaves it as it was).
void lowerThreadPriority();

}  // namespace image
