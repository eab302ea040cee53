// space-collect: the pause of a full collection of one space, its marking and sweeping
// apart, on one thread and on several (SpaceConfig::collectorThreads), side by side on the
// same heap shape. The heap: N small objects reachable from one array, each holding two
// more (about 100 bytes a triple), and a dead object after every third triple, in old space.
// As allocated, each triple lies next to the one marked after it; with --shuffled every
// reference goes to a place chosen at random, as in a heap that has aged (the marking
// misses the cache on each object it reaches).
//
//   build/scripts/bench/space-collect [--objects N] [--threads A,B,...] [--rounds R] [--shuffled]
//                                     [--incremental]
//
// Prints one line per thread count: the median over R collections of the pause, the
// marking and the sweep, in ms, and the ratio of each to the first thread count's.
// --incremental marks in steps first (Space::startMarking, then markSteps of the size
// and time bound a scavenge's step has, back to back, as a program that allocates fast
// would get them) and measures the full collection that finishes the marking, which
// leaves its sweep to run lazily (space/LazySweep.h): that runs next, in the steps the
// program's scavenges take (Space::sweepStep). It also prints the count, total and
// longest time of the steps before the collection and of those after it.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "space/Handle.h"
#include "space/Space.h"

using namespace space;

namespace {
struct Medians {
  double pause, mark, sweep;
  double steps = 0, stepsMs = 0, longestStepMs = 0;  // --incremental
  double sweepSteps = 0, sweepStepsMs = 0, longestSweepStepMs = 0;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The triples as allocated: each holds its two objects, and the root array holds the
// triples in allocation order.
void buildInOrder(Space& space, ClassIndex arrayClass, Oop root, size_t objects) {
  for (size_t i = 0; i < objects; i++) {
    Oop a = space.allocate(arrayClass, Format::Indexable, 3, Tenure::Old);
    LocalRoot keep(space.localRoots(), a);
    space.storePointer(a, 0, space.allocate(arrayClass, Format::Indexable, 2, Tenure::Old));
    space.storePointer(a, 1, space.allocate(arrayClass, Format::Indexable, 4, Tenure::Old));
    space.storePointer(root, i, a);
    if (i % 3 == 0) space.allocate(arrayClass, Format::Indexable, 5, Tenure::Old);  // garbage
  }
}

// The same objects, each reference to one chosen at random among its kind. (Nothing
// collects while they are made: old space objects never move, and the bench's threshold
// keeps full collections for the measured ones.)
void buildShuffled(Space& space, ClassIndex arrayClass, Oop root, size_t objects) {
  std::vector<Oop> triples, firsts, seconds;
  for (size_t i = 0; i < objects; i++) {
    triples.push_back(space.allocate(arrayClass, Format::Indexable, 3, Tenure::Old));
    firsts.push_back(space.allocate(arrayClass, Format::Indexable, 2, Tenure::Old));
    seconds.push_back(space.allocate(arrayClass, Format::Indexable, 4, Tenure::Old));
    if (i % 3 == 0) space.allocate(arrayClass, Format::Indexable, 5, Tenure::Old);  // garbage
  }
  std::mt19937_64 random(42);
  std::shuffle(triples.begin(), triples.end(), random);
  std::shuffle(firsts.begin(), firsts.end(), random);
  std::shuffle(seconds.begin(), seconds.end(), random);
  for (size_t i = 0; i < objects; i++) {
    space.storePointer(triples[i], 0, firsts[i]);
    space.storePointer(triples[i], 1, seconds[i]);
    space.storePointer(root, i, triples[i]);
  }
}

Medians measure(unsigned threads, size_t objects, int rounds, bool shuffled, bool incremental) {
  SpaceConfig config;
  config.name = "bench";
  config.gcStress = false;
  config.collectorThreads = threads;
  config.minFullGcBytes = size_t(64) << 30;  // only the collections measured
  Space space(config);
  Oop cls = space.allocate(reserved_class::kInvalid, Format::Fixed, 3, Tenure::Old);
  ClassIndex arrayClass = space.classTable().registerClass(cls);
  cls.object()->setClassIndex(arrayClass);
  space.setArrayClassIndex(arrayClass);
  Handle root(space, space.allocate(arrayClass, Format::Indexable, objects, Tenure::Old));
  if (shuffled) {
    buildShuffled(space, arrayClass, root.get(), objects);
  } else {
    buildInOrder(space, arrayClass, root.get(), objects);
  }
  std::vector<double> pauses, marks, sweeps, steps, stepsMs, longestSteps;
  std::vector<double> sweepSteps, sweepStepsMs, longestSweepSteps;
  for (int r = 0; r < rounds; r++) {
    GcStats before = space.stats();
    if (incremental) {
      double longest = 0;
      size_t n = 0;
      auto marking = std::chrono::steady_clock::now();
      bool done = !space.startMarking();
      while (!done) {
        auto step = std::chrono::steady_clock::now();
        done = space.markStep(config.markingStepBytes);
        longest = std::max(longest,
                           std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - step).count());
        n++;
      }
      steps.push_back(double(n));
      stepsMs.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - marking).count());
      longestSteps.push_back(longest);
    }
    auto start = std::chrono::steady_clock::now();
    if (incremental) {
      space.collectDueGarbage();
    } else {
      space.collectGarbage();
    }
    pauses.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    marks.push_back(double(space.stats().fullCollectionMarkNanos - before.fullCollectionMarkNanos) / 1e6);
    sweeps.push_back(double(space.stats().fullCollectionSweepNanos - before.fullCollectionSweepNanos) / 1e6);
    if (incremental) {
      // The sweep the collection left (space/LazySweep.h), in the steps the program takes.
      double longest = 0;
      size_t n = 0;
      auto sweeping = std::chrono::steady_clock::now();
      for (bool done = !space.sweeping(); !done; n++) {
        auto step = std::chrono::steady_clock::now();
        done = space.sweepStep(config.markingStepBytes);
        longest = std::max(longest,
                           std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - step).count());
      }
      sweepSteps.push_back(double(n));
      sweepStepsMs.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - sweeping).count());
      longestSweepSteps.push_back(longest);
    }
  }
  if (!incremental) return {median(pauses), median(marks), median(sweeps)};
  return {median(pauses),     median(marks),        median(sweeps),
          median(steps),      median(stepsMs),      median(longestSteps),
          median(sweepSteps), median(sweepStepsMs), median(longestSweepSteps)};
}
}  // namespace

int main(int argc, char** argv) {
  size_t objects = 5000000;
  std::vector<unsigned> threadCounts = {1, 2};
  int rounds = 5;
  bool shuffled = false;
  bool incremental = false;
  bool usage = false;
  for (int i = 1; i < argc; i++) {
    std::string flag = argv[i];
    if (flag == "--shuffled") {
      shuffled = true;
      continue;
    }
    if (flag == "--incremental") {
      incremental = true;
      continue;
    }
    if (i + 1 == argc) {
      usage = true;
      break;
    }
    const char* value = argv[++i];
    if (flag == "--objects") {
      objects = std::strtoul(value, nullptr, 10);
    } else if (flag == "--rounds") {
      rounds = std::max(1, std::atoi(value));
    } else if (flag == "--threads") {
      threadCounts.clear();
      std::stringstream list(value);
      for (std::string item; std::getline(list, item, ',');) threadCounts.push_back(unsigned(std::atoi(item.c_str())));
    } else {
      std::fprintf(stderr, "space-collect: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (usage || threadCounts.empty() ||
      std::any_of(threadCounts.begin(), threadCounts.end(), [](unsigned t) { return t == 0; })) {
    std::fprintf(stderr,
                 "usage: space-collect [--objects N] [--threads A,B,...] [--rounds R] [--shuffled] [--incremental]\n");
    return 2;
  }
  std::printf("%zu triples%s, median of %d collections%s\n", objects, shuffled ? " shuffled" : "", rounds,
              incremental ? ", each finishing a marking in steps" : "");
  Medians first{};
  for (size_t k = 0; k < threadCounts.size(); k++) {
    Medians m = measure(threadCounts[k], objects, rounds, shuffled, incremental);
    if (k == 0) first = m;
    // (A ratio to nothing, as a lazy sweep's 0 ms in the pause, prints as "-".)
    auto ratio = [](double x, double to) {
      return to > 0 ? std::to_string(x / to).substr(0, 4) + "x" : std::string("-");
    };
    std::printf("threads %u: pause %.2f ms (%s), marking %.2f ms (%s), sweeping %.2f ms (%s)", threadCounts[k], m.pause,
                ratio(m.pause, first.pause).c_str(), m.mark, ratio(m.mark, first.mark).c_str(), m.sweep,
                ratio(m.sweep, first.sweep).c_str());
    if (incremental) {
      std::printf("; before it, %.0f steps in %.1f ms, the longest %.2f ms", m.steps, m.stepsMs, m.longestStepMs);
      std::printf("; after it, the sweep in %.0f steps in %.1f ms, the longest %.2f ms", m.sweepSteps, m.sweepStepsMs,
                  m.longestSweepStepMs);
    }
    std::printf("\n");
    std::fflush(stdout);
  }
  return 0;
}
