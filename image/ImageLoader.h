// ImageLoader: reads an image directory back into a space. The manifest is checked whole
// (ImageManifest.h), every segment file must exist with its recorded size; then the
// segments are mapped — Boost.Interprocess file mappings, private copy-on-write, at their
// recorded addresses when the space's reservation lies where the image's did — so nothing
// is read until it is touched. Otherwise every reference is relocated
// (space::SpaceImage::adopt). Each segment's SHA-256 is checked before any of its bytes is
// used: by default on first touch while the program runs (FirstTouchVerification.h),
// or all before it starts, or (the caller trusting the image) not at all.
#pragma once

#include <boost/interprocess/file_mapping.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "image/FirstTouchVerification.h"
#include "image/ImageManifest.h"
#include "space/Space.h"

namespace image {

// The exit status of a process whose image fails a check after the program started
// (EX_DATAERR, as hypervisor::ExitStatus::BadImage for an image refused before).
constexpr int kBadImageExitStatus = 65;

enum class Verification {
  FirstTouch,  // the program starts at once; a segment is checked before its first use
  First,       // every segment is checked before the program starts
  Trusted,     // no segment is checked (--trust-image)
};

struct LoadOptions {
  Verification verification = Verification::FirstTouch;
  // FirstTouch: a segment that fails its check once the program runs. Must end the
  // process (FirstTouchVerification::BadSegment); unset, it prints the problem and exits
  // with kBadImageExitStatus.
  FirstTouchVerification::BadSegment onBadSegment;
  // FirstTouch: called on the checking thread once every segment passed.
  FirstTouchVerification::Checked onChecked;
};

struct LoadReport {
  Verification verification = Verification::First;
  int64_t verifyMicros = 0;    // checking the segments' SHA-256 before the program starts
  int64_t mapMicros = 0;       // mapping the segment files
  int64_t relocateMicros = 0;  // 0 when mapped at the recorded base
  bool relocated = false;
  size_t objectsRelocated = 0;
  size_t bytesMapped = 0;
};

// Reads and checks DIR/manifest.json and the segment files' sizes (and, with
// Verification::First, their checksums).
Manifest readImage(const std::string& directory, const LoadOptions& options, LoadReport& report);

// The configuration of a space that can hold the image: `base` with the image's layout
// and its recorded reservation address as the preferred base.
space::SpaceConfig spaceConfigFor(const Manifest& manifest, space::SpaceConfig base);

// The file mappings of a loaded space. Destroy it before the space (its reservation).
class ImageMappings {
 public:
  // Maps the segments of `manifest` into `space` (built with Space::ForImage and
  // spaceConfigFor) and adopts the image's state; answers the distance between the
  // space's reservation and the recorded one (0: no relocation). With
  // Verification::FirstTouch the segments are checked from now on; an image that must be
  // relocated is checked whole first instead, since relocating reads every segment.
  // Throws ImageError.
  intptr_t place(const std::string& directory, const Manifest& manifest, space::Space& space,
                 const LoadOptions& options, LoadReport& report);

  // Null unless checking on first touch was started (and it may have finished since).
  const FirstTouchVerification* firstTouch() const { return firstTouch_.get(); }

 private:
  std::vector<std::unique_ptr<boost::interprocess::mapped_region>> regions_;
  std::unique_ptr<FirstTouchVerification> firstTouch_;  // stops before the regions go
};

}  // namespace image
