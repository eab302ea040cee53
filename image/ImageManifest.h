// ImageManifest: what an image directory's manifest.json says — format, origin, where the
// space lay, its segments (one file each, with size and SHA-256; segmentFiles says which)
// and the state beside its
// pages (space::SpaceImageState, vm::RuntimeImageState). Reading checks everything a
// loader will rely on and names the first thing that is wrong (ImageError): an image
// that is corrupt, truncated, foreign or tampered with is refused, never half-loaded.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "space/SpaceImage.h"
#include "vm/RuntimeImage.h"

namespace image {

// 2: the nursery is taken as it is; 3: segment files of at most kSegmentFileBytes.
constexpr int kFormatVersion = 3;
constexpr const char* kManifestFile = "manifest.json";

// The most a segment file holds. A segment is checked whole before its first use
// (FirstTouchVerification.h), so this bounds what a resumed program's first touch of a
// page waits for: reading (the files of a fresh snapshot are not in the page cache) and
// hashing 4 MiB, 3-6 ms on this machine kind, where an 8 MiB old segment took 6-12 ms.
// Smaller files cost the writer more: the disk alone wrote 1.3 GB in 334 files 3-6% slower
// than in 159, and in 668 files 13% slower (docs/PERFORMANCE.md).
constexpr uint64_t kSegmentFileBytes = uint64_t(4) << 20;

// The memory each segment file holds, in order: the regions holding objects
// (space::SpaceImage::pages: eden's, the survivors', each old segment's occupied pages),
// each cut into pieces of at most kSegmentFileBytes.
std::vector<space::MemoryRange> segmentFiles(const space::SpaceImageState& state);

// Why an image cannot be loaded or written (the message names the file and the field).
class ImageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct SegmentEntry {
  std::string file;     // relative to the image directory
  uint64_t offset = 0;  // from the reservation's base, page aligned
  uint64_t bytes = 0;   // the file's size, page aligned
  std::string sha256;   // of the file's bytes, lowercase hex
};

struct Manifest {
  int formatVersion = kFormatVersion;
  std::string espellVersion;
  int wordSize = 8;
  std::string byteOrder = "little";
  std::string space;    // "guest" or "hypervisor": the space it was taken from
  std::string takenAt;  // UTC, ISO 8601
  std::string mode;     // cow, copy or fork
  // The space's memory layout (the loader builds the same).
  uint64_t edenBytes = 0, minEdenBytes = 0, survivorBytes = 0, maxOldBytes = 0;
  std::vector<SegmentEntry> segments;
  space::SpaceImageState spaceState;
  vm::RuntimeImageState runtimeState;
};

// The version written into manifests and required of them.
std::string espellVersion();

// The manifest as JSON text, with a "checksum" (SHA-256 of the rest, canonical form).
std::string toJson(const Manifest& m);
// Parses and checks `text` (read from `where`, for messages). Throws ImageError.
Manifest fromJson(const std::string& text, const std::string& where);

std::string sha256Hex(const void* data, size_t n);

}  // namespace image
