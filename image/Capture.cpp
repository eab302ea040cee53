// Capture: see Capture.h.
#include "image/Capture.h"

namespace image {

std::string segmentFileName(size_t index) {
  return "segment-" + std::to_string(index) + ".bin";
}

}  // namespace image
