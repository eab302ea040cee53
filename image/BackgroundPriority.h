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
// it takes. Idle, it writes as fast as at any priority. Meanwhile the control socket's
// requests wait for the snapshot, and an allocation that needs a full collection waits
// for the writer (Space::holdPages): on cores other work keeps busy, a snapshot may take
// long. ESPELL_SNAPSHOT_NICE=N runs the threads at niceness N instead (0: as the program),
// a faster writer that costs the clients more.
#pragma once

namespace image {

// Lowers the calling thread's priority (best effort: a failure leaves it as it was).
void lowerThreadPriority();

}  // namespace image
