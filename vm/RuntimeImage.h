// RuntimeImage: one space's runtime as an image records it and as it resumes from one —
// the C++ state beside the heap (main processes, pending timers, processes waiting for
// I/O, retired methods, the program clock) and the resume itself: caches recomputed,
// timers re-armed relative to the resume, descriptors of the old process treated as
// closed (their waiters woken, so they see the error), the start-up list told, and the
// parked processes made ready where they stopped (docs/ARCHITECTURE.md, image/).
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "space/Oop.h"
#include "space/SpaceImage.h"
#include "vm/Runtime.h"

namespace vm {

struct RuntimeImageState {
  space::Oop mainProcess;
  space::Oop programMainProcess;
  // Pending timers: (microseconds left when the image was taken, timer id, semaphore).
  std::vector<std::tuple<int64_t, int64_t, space::Oop>> timers;
  int64_t nextTimerId = 1;
  // Semaphores of processes waiting for a descriptor of the old process.
  std::vector<space::Oop> ioWaiters;
  // Method versions replaced or removed that may still run (ClassBuilder's retired code).
  std::vector<space::Oop> retiredCode;
  int64_t programMicros = 0;     // System>>ticks when the image was taken
  uint32_t descriptorEpoch = 1;  // the socket handles' epoch (Runtime::descriptorEpoch)
  std::vector<std::string> classPath;
  std::string primitivesFingerprint;  // see primitivesFingerprint()
};

class RuntimeImage {
 public:
  // The runtime must be paused (or between jobs): no process running.
  static RuntimeImageState capture(Runtime& rt);
  // Method headers name primitives by index in the table: an image runs only on a VM
  // whose table is the same (SHA-256 of the names in order, hex).
  static std::string primitivesFingerprint(const Runtime& rt);
  // Every oop of `state` moved by `delta` (an image loaded at another address).
  static void relocate(RuntimeImageState& state, const space::Relocation& r);
  // Makes a runtime over an adopted space (space::SpaceImage::adopt) the one the image
  // recorded. `arguments` are what System>>resumeArguments answers.
  static void adopt(Runtime& rt, const RuntimeImageState& state, std::vector<std::string> arguments);
};

}  // namespace vm
