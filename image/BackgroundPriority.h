// BackgroundPriority: a snapshot's background threads (the writer, the hasher, the
// writes) run at a lower priority (nice 10), so that the program they snapshot, which
// serves clients on the same cores meanwhile, gets the larger share of them: on a machine
// of two cores the writer and the hasher would otherwise take up to one core and a half
// from it while it serves. Not the lowest: the longer the writer takes, the more pages the
// program saves first (BackgroundPriority.cpp has the measurements). The fault-handling
// thread keeps its priority: the program waits for it. ESPELL_SNAPSHOT_NICE=N sets
// another niceness (0: as the program); ESPELL_SNAPSHOT_NICE=idle runs them under
// SCHED_IDLE, only on cores nothing else wants: on the busy hub of two cores the clients'
// p99 during a snapshot stayed within 1.4x of the p99 before it, but the writer wrote
// about 70 MiB/s and the program's writes meanwhile saved 3-5% of the heap (a choice for
// a service whose latency matters more than the snapshot's memory and duration).
#pragma once

namespace image {

// Lowers the calling thread's priority (best effort: a failure leaves it as it was).
void lowerThreadPriority();

}  // namespace image
