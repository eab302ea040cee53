// ImageManifest: what an image directory's manifest.json says — format, origin, where the
// space lay, its segments (one file each, with size and SHA-256) and the state beside its
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

constexpr int kFormatVersion = 2;  // 2: the nursery is taken as it is
constexpr const char* kManifestFile = "manifest.json";

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
