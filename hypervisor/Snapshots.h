// Snapshots: a snapshot of one of a Vm's spaces, taken while it runs — the guest is paused
// at its update points (as for an update), captured, resumed at once, and kept running by
// this host loop while the image's pages are written (image/ImageWriter.h). The control
// socket's `snapshot` command and `espell snapshot` come here.
#pragma once

#include <chrono>
#include <string>

#include "hypervisor/Vm.h"
#include "image/ImageWriter.h"

namespace hypervisor {

struct SnapshotRequest {
  std::string directory;        // the image directory to write (replaced if it is an image)
  std::string space = "guest";  // "guest" or "hypervisor"
  image::CaptureMode mode = image::CaptureMode::Cow;
  std::chrono::microseconds pauseDeadline = std::chrono::seconds(2);
};

// Takes the snapshot and answers its report. A guest that does not reach its update points
// by the deadline is not snapshotted (it keeps running untouched); nothing is left on disk
// by a snapshot that fails. Throws image::ImageError naming why.
image::SnapshotReport takeSnapshot(Vm& vm, const SnapshotRequest& request);

}  // namespace hypervisor
