// ImageManifestFuzzer: libFuzzer target for the image manifest reader (image/ImageManifest.h),
// what `espell run --image DIR` checks before it maps anything. Any input must either be
// accepted as a manifest whose every reference lies in its segments, or be refused with an
// ImageError — never crash, hang, trip a sanitizer or escape with another exception.
//
// A manifest carries a SHA-256 of its own contents, which random mutation would never
// match: inputs that are JSON objects get their checksum recomputed first (once as given
// too), so the fuzzer reaches every field's checks.
//
//   scripts/fuzz --only image-manifest --seconds 600
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "image/ImageManifest.h"

namespace {

void readManifest(const std::string& text) {
  try {
    image::Manifest m = image::fromJson(text, "fuzz/manifest.json");
    // What the loader computes from an accepted manifest.
    (void)image::segmentFiles(m.spaceState);
    (void)image::toJson(m);
  } catch (const image::ImageError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  readManifest(text);
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_object()) {
    j.erase("checksum");
    std::string canonical = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    j["checksum"] = image::sha256Hex(canonical.data(), canonical.size());
    readManifest(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  return 0;
}
