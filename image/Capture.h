// Capture: one way of capturing ranges and writing them out (CowCapture, CopyCapture,
// ForkCapture), behind PageWriter. Constructing one is the capture: it returns once the
// ranges' contents as of now are safe, and writing proceeds in the background.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "image/PageWriter.h"

namespace image {

class Capture {
 public:
  // Stops the writer if it still runs; every range is writable afterwards.
  virtual ~Capture() = default;
  virtual bool finished() = 0;
  // Blocks until done; throws std::runtime_error (file and errno) when writing failed.
  // captureMicros is left for PageWriter to fill.
  virtual PageWriteReport wait() = 0;
  // The program needs the writer done soon (a full collection is owed): a writer that
  // paces itself stops pacing. Any thread.
  virtual void hurry() {}
  // Whether the capture still needs the contents, as of the capture, of some page of
  // [start, end): while it does, the program must not discard those pages, and a write
  // there costs a saved copy. Copy and fork hold their own copy. Any thread.
  virtual bool needs(uintptr_t /*start*/, uintptr_t /*end*/) const { return false; }
};

// The file name of the range at `index`, relative to the directory.
std::string segmentFileName(size_t index);

}  // namespace image
