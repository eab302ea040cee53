// space-swap: time of swapping the identities of many pairs in one space — the instance
// migration step of an update (Point(x,y) -> Point(x,y,z)): N two-field objects, each
// referenced from an Array and from a second, shuffled one, are swapped with N new
// three-field objects. Reports the median of several rounds. The objects are old (a
// long-running guest's data), young (--young), or old two-field objects swapped with
// young three-field ones (--mixed: fresh instances made by the MOP, as in an update).
// --checkpoint swaps under a checkpoint, as an update does: before the timed part, the
// instances are counted by a census, the checkpoint is armed and the copies of the pages
// they lie on are prepared (Space::prepareCheckpointCopies; not with --unprepared); the
// time includes taking the checkpoint and committing it. It reports the pages the
// checkpoint saved of those it tracks and how long the arming took. --ballast-mib M first
// fills old space with M MiB of live arrays, the rest of a large guest's heap.
//
//   build/scripts/bench/space-swap [--pairs N] [--rounds N] [--young | --mixed]
//                                  [--checkpoint [--unprepared]] [--ballast-mib M]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>

#include "space/Handle.h"
#include "space/Space.h"
#include "space/SpaceCheckpoint.h"

using namespace space;

namespace {
// Minor page faults of this process so far: pages the swap touched for the first time.
long minorFaults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}
}  // namespace

int main(int argc, char** argv) {
  size_t pairs = 100000, rounds = 7;
  std::string mode = "old";
  bool checkpoint = false, prepare = true;
  size_t ballastMib = 0;
  for (int i = 1; i < argc; i++) {
    std::string flag = argv[i];
    if (flag == "--pairs" && i + 1 < argc)
      pairs = std::strtoul(argv[++i], nullptr, 10);
    else if (flag == "--rounds" && i + 1 < argc)
      rounds = std::strtoul(argv[++i], nullptr, 10);
    else if (flag == "--young" || flag == "--mixed")
      mode = flag.substr(2);
    else if (flag == "--checkpoint")
      checkpoint = true;
    else if (flag == "--unprepared")
      prepare = false;
    else if (flag == "--ballast-mib" && i + 1 < argc)
      ballastMib = std::strtoul(argv[++i], nullptr, 10);
    else {
      std::fprintf(stderr,
                   "space-swap: unknown flag %s\nusage: space-swap [--pairs N] [--rounds N] [--young | --mixed] "
                   "[--checkpoint [--unprepared]] [--ballast-mib M]\n",
                   argv[i]);
      return 2;
    }
  }
  SpaceConfig config;
  config.name = "bench";
  config.gcStress = false;
  Space space(config);
  Oop cls = space.allocate(reserved_class::kInvalid, Format::Fixed, 3, Tenure::Old);
  ClassIndex arrayClass = space.classTable().registerClass(cls);
  cls.object()->setClassIndex(arrayClass);
  space.setArrayClassIndex(arrayClass);
  Oop pointCls = space.allocate(arrayClass, Format::Fixed, 3, Tenure::Old);
  ClassIndex point = space.classTable().registerClass(pointCls);

  // The ballast: arrays of 1 MiB, each holding small integers.
  constexpr size_t kBallastSlots = (size_t(1) << 20) / 8 - 2;
  Handle ballast(space, space.allocate(arrayClass, Format::Indexable, std::max<size_t>(ballastMib, 1), Tenure::Old));
  for (size_t i = 0; i < ballastMib; i++) {
    Oop a = space.allocate(arrayClass, Format::Indexable, kBallastSlots, Tenure::Old);
    for (size_t k = 0; k < kBallastSlots; k++) a.object()->slots()[k] = Oop::fromSmallInteger(int64_t(k));
    space.storePointer(ballast.get(), i, a);
  }

  std::vector<double> millis, validate, reserve, swap, fix, faults, saved, tracked, savedIntoPrepared, arming, counted;
  auto ms = [](uint64_t nanos) { return double(nanos) / 1e6; };
  for (size_t r = 0; r < rounds; r++) {
    Tenure oldTenure = mode == "young" ? Tenure::Young : Tenure::Old;  // the objects migrated
    Tenure newTenure = mode == "old" ? Tenure::Old : Tenure::Young;    // their replacements
    Handle olds(space, space.allocate(arrayClass, Format::Indexable, pairs, Tenure::Old));
    Handle news(space, space.allocate(arrayClass, Format::Indexable, pairs, Tenure::Old));
    Handle shuffled(space, space.allocate(arrayClass, Format::Indexable, pairs, Tenure::Old));
    for (size_t i = 0; i < pairs; i++) {
      Oop p = space.allocate(point, Format::Fixed, 2, oldTenure);
      p.object()->slots()[0] = Oop::fromSmallInteger(int64_t(i));
      space.storePointer(olds.get(), i, p);
      space.storePointer(shuffled.get(), (i * 7919) % pairs, p);
      Oop q = space.allocate(point, Format::Fixed, 3, newTenure);
      space.storePointer(news.get(), i, q);
    }
    std::vector<Oop> a(olds.get().object()->slots(), olds.get().object()->slots() + pairs);
    std::vector<Oop> b(news.get().object()->slots(), news.get().object()->slots() + pairs);
    if (checkpoint) {
      // Ahead of the pause, as an update does while its guest runs on.
      auto armStart = std::chrono::steady_clock::now();
      space.openCensus({point});
      while (!space.censusStep(std::chrono::microseconds(300))) {
      }
      counted.push_back(double(space.census()->pagesFound()));
      space.armCheckpoint();
      if (prepare) space.prepareCheckpointCopies(space.census()->pagesFound());
      while (!space.checkpointArmingDone() || !space.checkpointCopiesPrepared())
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      arming.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - armStart).count());
    }
    long faultsBefore = minorFaults();
    auto start = std::chrono::steady_clock::now();
    if (checkpoint) {
      SpaceCheckpoint cp(space);
      space.swapIdentities(a, b);
      saved.push_back(double(cp.pagesSaved()));
      savedIntoPrepared.push_back(double(cp.pagesSavedIntoPrepared()));
      tracked.push_back(double(cp.pagesTracked()));
      cp.commit();
    } else {
      space.swapIdentities(a, b);
    }
    auto end = std::chrono::steady_clock::now();
    faults.push_back(double(minorFaults() - faultsBefore));
    millis.push_back(std::chrono::duration<double, std::milli>(end - start).count());
    const auto& phases = space.stats().lastSwap;
    validate.push_back(ms(phases.validateNanos));
    reserve.push_back(ms(phases.reserveNanos));
    swap.push_back(ms(phases.swapNanos));
    fix.push_back(ms(phases.fixNanos));
    space.collectGarbage();
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::sort(millis.begin(), millis.end());
  std::printf(
      "space-swap: %zu pairs (%s, 2-field <-> 3-field objects), %zu rounds: median %.2f ms, min %.2f ms, max %.2f ms\n",
      pairs, mode.c_str(), rounds, millis[millis.size() / 2], millis.front(), millis.back());
  std::printf("  phases (medians): validate %.2f ms, reserve copies %.2f ms, swap %.2f ms, fix roots %.3f ms\n",
              median(validate), median(reserve), median(swap), median(fix));
  std::printf("  minor page faults during the swap (median): %.0f\n", median(faults));
  if (checkpoint) {
    std::printf(
        "  checkpoint (medians): %.0f pages saved of %.0f tracked (%.1f%%), %.0f of them into copies prepared; "
        "the census counted %.0f pages of instances; census, arming and preparing %.1f ms before the swap; old "
        "space %zu MiB\n",
        median(saved), median(tracked), 100.0 * median(saved) / median(tracked), median(savedIntoPrepared),
        median(counted), median(arming), space.oldSpace().committedBytes() >> 20);
  }
  return 0;
}
