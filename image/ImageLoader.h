// ImageLoader: reads an image directory back into a space. The manifest is checked whole
// (ImageManifest.h), every segment file must exist with its recorded size and (unless the
// caller trusts the image) SHA-256; then the segments are mapped — Boost.Interprocess file
// mappings, private copy-on-write, at their recorded addresses when the space's
// reservation lies where the image's did — so nothing is read until it is touched.
// Otherwise every reference is relocated (space::SpaceImage::adopt).
#pragma once

#include <boost/interprocess/file_mapping.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "image/ImageManifest.h"
#include "space/Space.h"

namespace image {

struct LoadOptions {
  bool verifyChecksums = true;  // read every segment once to check its SHA-256
};

struct LoadReport {
  int64_t verifyMicros = 0;    // checking the segments' SHA-256
  int64_t mapMicros = 0;       // mapping the segment files
  int64_t relocateMicros = 0;  // 0 when mapped at the recorded base
  bool relocated = false;
  size_t objectsRelocated = 0;
  size_t bytesMapped = 0;
};

// Reads and checks DIR/manifest.json and the segment files' sizes (and checksums).
Manifest readImage(const std::string& directory, const LoadOptions& options, LoadReport& report);

// The configuration of a space that can hold the image: `base` with the image's layout
// and its recorded reservation address as the preferred base.
space::SpaceConfig spaceConfigFor(const Manifest& manifest, space::SpaceConfig base);

// The file mappings of a loaded space. Destroy it before the space (its reservation).
class ImageMappings {
 public:
  // Maps the segments of `manifest` into `space` (built with Space::ForImage and
  // spaceConfigFor) and adopts the image's state; answers the distance between the
  // space's reservation and the recorded one (0: no relocation). Throws ImageError.
  intptr_t place(const std::string& directory, const Manifest& manifest, space::Space& space, LoadReport& report);

 private:
  std::vector<std::unique_ptr<boost::interprocess::mapped_region>> regions_;
};

}  // namespace image
