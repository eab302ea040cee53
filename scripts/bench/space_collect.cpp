// space-collect: the pause of a full collection of one space, its marking and sweeping
// apart, on one thread and on several (SpaceConfig::collectorThreads), side by side on the
// same heap shape. The heap: N small objects reachable from one array, each holding two
// more (about 100 bytes a triple), and a dead object after every third triple, in old space.
//
//   build/scripts/bench/space-collect [--objects N] [--threads A,B,...] [--rounds R]
//
// Prints one line per thread count: the median over R collections of the pause, the
// marking and the sweep, in ms, and the ratio of each to the first thread count's.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "space/Handle.h"
#include "space/Space.h"

using namespace space;

namespace {
struct Medians {
  double pause, mark, sweep;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

Medians measure(unsigned threads, size_t objects, int rounds) {
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
  for (size_t i = 0; i < objects; i++) {
    Oop a = space.allocate(arrayClass, Format::Indexable, 3, Tenure::Old);
    LocalRoot keep(space.localRoots(), a);
    space.storePointer(a, 0, space.allocate(arrayClass, Format::Indexable, 2, Tenure::Old));
    space.storePointer(a, 1, space.allocate(arrayClass, Format::Indexable, 4, Tenure::Old));
    space.storePointer(root.get(), i, a);
    if (i % 3 == 0) space.allocate(arrayClass, Format::Indexable, 5, Tenure::Old);  // garbage
  }
  std::vector<double> pauses, marks, sweeps;
  for (int r = 0; r < rounds; r++) {
    GcStats before = space.stats();
    auto start = std::chrono::steady_clock::now();
    space.collectGarbage();
    pauses.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    marks.push_back(double(space.stats().fullCollectionMarkNanos - before.fullCollectionMarkNanos) / 1e6);
    sweeps.push_back(double(space.stats().fullCollectionSweepNanos - before.fullCollectionSweepNanos) / 1e6);
  }
  return {median(pauses), median(marks), median(sweeps)};
}
}  // namespace

int main(int argc, char** argv) {
  size_t objects = 5000000;
  std::vector<unsigned> threadCounts = {1, 2};
  int rounds = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--objects") {
      objects = std::strtoul(argv[i + 1], nullptr, 10);
    } else if (flag == "--rounds") {
      rounds = std::max(1, std::atoi(argv[i + 1]));
    } else if (flag == "--threads") {
      threadCounts.clear();
      std::stringstream list(argv[i + 1]);
      for (std::string item; std::getline(list, item, ',');) threadCounts.push_back(unsigned(std::atoi(item.c_str())));
    } else {
      std::fprintf(stderr, "space-collect: unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  if (argc % 2 == 0 || threadCounts.empty() ||
      std::any_of(threadCounts.begin(), threadCounts.end(), [](unsigned t) { return t == 0; })) {
    std::fprintf(stderr, "usage: space-collect [--objects N] [--threads A,B,...] [--rounds R]\n");
    return 2;
  }
  std::printf("%zu triples, median of %d collections\n", objects, rounds);
  Medians first{};
  for (size_t k = 0; k < threadCounts.size(); k++) {
    Medians m = measure(threadCounts[k], objects, rounds);
    if (k == 0) first = m;
    std::printf("threads %u: pause %.1f ms (%.2fx), marking %.1f ms (%.2fx), sweeping %.1f ms (%.2fx)\n",
                threadCounts[k], m.pause, m.pause / first.pause, m.mark, m.mark / first.mark, m.sweep,
                m.sweep / first.sweep);
    std::fflush(stdout);
  }
  return 0;
}
