// BackgroundPriority: a snapshot's background threads (the writer, the hasher, the
// writes) run at the lowest priority (nice 19), so that the program they snapshot, which
// serves clients on the same cores meanwhile, preempts them whenever it has work: on a
// machine of two cores the three would otherwise take one core and a half from it while
// it serves. The fault-handling thread keeps its priority: the program waits for it.
// ESPELL_SNAPSHOT_NICE=N sets another niceness (0: as the program).
#pragma once

namespace image {

// Lowers the calling thread's priority (best effort: a failure leaves it as it was).
void lowerThreadPriority();

}  // namespace image
