// space-alloc: allocation rate and scavenge pauses of one space under a nursery-heavy
// workload — small short-lived objects, with a ring of survivors that forces copying and
// promotion — using a 64 MiB eden.
//
//   build/scripts/bench/space-alloc [--eden-mib N] [--gib-to-allocate N] [--ring N]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "space/Handle.h"
#include "space/Space.h"

using namespace space;

int main(int argc, char** argv) {
  size_t edenMiB = 64, ring = 200000;
  double gib = 4;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--eden-mib")
      edenMiB = std::strtoul(argv[i + 1], nullptr, 10);
    else if (flag == "--gib-to-allocate")
      gib = std::strtod(argv[i + 1], nullptr);
    else if (flag == "--ring")
      ring = std::strtoul(argv[i + 1], nullptr, 10);
    else {
      std::fprintf(stderr, "space-alloc: unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  SpaceConfig config;
  config.name = "bench";
  config.edenBytes = edenMiB << 20;
  config.minEdenBytes = config.edenBytes;  // a fixed eden: this measures an eden of that size
  config.survivorBytes = (edenMiB << 20) / 8;
  config.gcStress = false;
  Space space(config);
  Oop cls = space.allocate(reserved_class::kInvalid, Format::Fixed, 3, Tenure::Old);
  ClassIndex arrayClass = space.classTable().registerClass(cls);
  cls.object()->setClassIndex(arrayClass);
  space.setArrayClassIndex(arrayClass);

  Handle survivors(space, space.allocate(arrayClass, Format::Indexable, ring, Tenure::Old));
  const uint64_t target = uint64_t(gib * double(uint64_t(1) << 30));
  uint64_t allocated = 0, objects = 0;
  uint64_t x = 88172645463325252ull;  // xorshift64 state
  auto start = std::chrono::steady_clock::now();
  while (allocated < target) {
    // A short list of 2..7-slot objects; most die young, every 64th list head survives a
    // while in the ring (and is promoted if it stays long enough).
    Oop head = space.nil();
    for (int k = 0; k < 8; k++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      size_t slots = 2 + (x % 6);
      LocalRoot keep(space.localRoots(), head);
      Oop cell = space.allocate(arrayClass, Format::Indexable, slots);
      space.storePointer(cell, 0, keep.get());
      space.storePointer(cell, 1, Oop::fromSmallInteger(int64_t(objects)));
      head = cell;
      allocated += HeapObject::wordsForSlots(slots) * 8;
      objects++;
    }
    if ((x & 63) == 0) space.storePointer(survivors.get(), (x >> 8) % ring, head);
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const GcStats& s = space.stats();
  double meanPauseUs = s.scavenges ? double(s.scavengeNanos) / double(s.scavenges) / 1000.0 : 0;
  std::printf("eden:               %zu MiB\n", edenMiB);
  std::printf("allocated:          %.2f GiB in %llu objects\n", double(allocated) / double(1 << 30),
              static_cast<unsigned long long>(objects));
  std::printf("time:               %.3f s\n", seconds);
  std::printf("allocation rate:    %.0f MiB/s (%.1f M objects/s), GC time included\n",
              double(allocated) / double(1 << 20) / seconds, double(objects) / 1e6 / seconds);
  std::printf("scavenges:          %llu, mean pause %.0f us, max pause %.0f us\n",
              static_cast<unsigned long long>(s.scavenges), meanPauseUs, double(s.maxScavengeNanos) / 1000.0);
  std::printf("survived/promoted:  %.1f MiB / %.1f MiB\n", double(s.bytesSurvived) / double(1 << 20),
              double(s.bytesPromoted) / double(1 << 20));
  std::printf("full collections:   %llu, max pause %.1f ms\n", static_cast<unsigned long long>(s.fullCollections),
              double(s.maxFullCollectionNanos) / 1e6);
  std::printf(
      "marking in steps:   %llu started, %llu finished by a full collection, %llu dropped; %llu steps, %.1f "
      "ms in all, longest %.2f ms\n",
      static_cast<unsigned long long>(s.incrementalMarkings), static_cast<unsigned long long>(s.incrementalCollections),
      static_cast<unsigned long long>(s.abandonedMarkings), static_cast<unsigned long long>(s.markingSteps),
      double(s.markingStepNanos) / 1e6, double(s.maxMarkingStepNanos) / 1e6);
  std::printf("GC share of time:   %.1f%%\n",
              100.0 * double(s.scavengeNanos + s.fullCollectionNanos + s.markingStepNanos) / 1e9 / seconds);
  return 0;
}
