// Images: a snapshot of a running guest, resumed in a new Vm, holds the same reachable
// state (the heap digest, an address-independent walk) whether its segments are mapped at
// their recorded addresses or relocated, in every capture mode; the resumed program runs
// on where it stopped. Images that are damaged, truncated, foreign or tampered with are
// refused with an error naming what is wrong.
#include <sys/mman.h>
#include <sys/resource.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "hypervisor/Snapshots.h"
#include "image/ImageLoader.h"
#include "space/HeapVerifier.h"
#include "tests/unit/hypervisor/GuestFixture.h"
#include "tests/unit/hypervisor/Workers.h"
#include "vm/HeapDigest.h"
#include "vm/RuntimeCheckpoint.h"

using hypervisor::test::GuestFixture;
using hypervisor::test::kWorkers;
namespace fs = std::filesystem;

// A resumed image re-arms its timers relative to the resume: compare them by id.
constexpr vm::TimerDeadlines kTimersByIdOnly = vm::TimerDeadlines::Excluded;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    static int counter = 0;
    path = fs::temp_directory_path() / ("espell-image-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

hypervisor::VmConfig resumedConfig(GuestFixture& g) {
  hypervisor::VmConfig config;
  config.guest.runtime.out = g.out;
  config.guest.runtime.err = g.err;
  config.guest.space.reservationBytes = size_t(8) << 30;
  config.hypervisor.runtime.out = g.out;
  config.hypervisor.runtime.err = g.err;
  return config;
}

// A Vm resuming the image, with `g`'s output files (g's own Vm is dropped first, so that
// the recorded address range is free unless something else holds it).
std::unique_ptr<hypervisor::Vm> resume(GuestFixture& g, const std::string& dir, image::LoadReport& report) {
  g.vm.reset();
  image::Manifest m = image::readImage(dir, image::LoadOptions{}, report);
  return std::make_unique<hypervisor::Vm>(resumedConfig(g), hypervisor::ResumeFromImage{dir, m, {}, {}}, report);
}

void requireVerified(space::Space& s) {
  space::VerificationReport r = space::verifyHeap(s);
  INFO(r.summary());
  REQUIRE(r.ok());
}

std::string readFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs the resumed Workers program a little, checks that it computes, and ends it.
void runOnAndFinish(GuestFixture& g, hypervisor::Vm& vm, int64_t goodBefore) {
  vm.startGuestFromImage();
  vm.runGuestFor(std::chrono::milliseconds(50));
  REQUIRE(vm.pauseGuest(std::chrono::seconds(5)) == hypervisor::PauseOutcome::Paused);
  space::Handle good = vm.evaluateInGuest("^ system global: #Good");
  CHECK(good.get().smallInteger() > goodBefore);
  // Compiling in the resumed guest interns new symbols and installs methods.
  space::Handle size = vm.evaluateInGuest("^ #aSymbolFirstMadeAfterTheResume size");
  CHECK(size.get().smallInteger() == 30);
  vm.evaluateInHypervisor("(Guest classNamed: 'Workers') compileAndInstall: 'answerAfterResume ^ 42'");
  CHECK(vm.evaluateInGuest("^ Workers new answerAfterResume").get().smallInteger() == 42);
  vm.evaluateInGuest("system global: #Stop put: true");
  vm.resumeGuest();
  CHECK(vm.finishGuest().kind == vm::ProgramOutcome::Kind::Finished);
  CHECK(g.output().find("bad: 0") != std::string::npos);
}

}  // namespace

TEST_CASE("a snapshot of a running guest resumes with the same state, in every mode") {
  for (image::CaptureMode mode : {image::CaptureMode::Cow, image::CaptureMode::Copy, image::CaptureMode::Fork}) {
    std::string modeName = image::captureModeName(mode);
    CAPTURE(modeName);
    TempDir tmp;
    std::string dir = (tmp.path / "image").string();
    vm::HeapDigest before;
    int64_t good = 0;
    {
      GuestFixture g({{"Workers", kWorkers}});
      g.vm->startGuest("Workers", {});
      g.vm->runGuestFor(std::chrono::milliseconds(30));
      g.pause();
      // Arrays past the large-object size (256 KiB; allocated old) that die: the collection
      // leaves their memory as free chunks.
      REQUIRE(40000 * sizeof(space::Oop) > g.vm->guest().space().config().largeObjectBytes);
      g.vm->evaluateInGuest("(1 to: 10) collect: [ :i | Array new: 40000 ]. system fullGC");
      good = g.guestInteger("^ system global: #Good");
      before = vm::digestOf(g.vm->guest().runtime(), kTimersByIdOnly);
      image::SnapshotReport r = hypervisor::takeSnapshot(*g.vm, {dir, "guest", mode, std::chrono::seconds(5)});
      CHECK(r.pagesWritten > 0);
      CHECK(r.bytesWritten == r.pagesWritten * 4096);
      CHECK(r.heapBytes == r.bytesWritten);
      // Old space's free chunks as of the pause: the guest has stood still since.
      CHECK(r.freeBytes == g.vm->guest().space().oldSpace().freeBytes());
      CHECK(r.freeBytes >= 10 * 40000 * sizeof(space::Oop));
      CHECK(r.freeBytes < r.heapBytes);
      CHECK(r.mode == image::captureModeName(mode));
      CHECK(fs::exists(fs::path(dir) / "manifest.json"));
      // The original goes on as if nothing had happened.
      CHECK(vm::digestOf(g.vm->guest().runtime(), kTimersByIdOnly) == before);
      requireVerified(g.vm->guest().space());
      g.vm->evaluateInGuest("system global: #Stop put: true");
      g.vm->resumeGuest();
      CHECK(g.vm->finishGuest().kind == vm::ProgramOutcome::Kind::Finished);
    }
    // The original Vm is gone: the image maps at its recorded addresses.
    GuestFixture g2({{"Unused", "Unused = ( )"}});
    image::LoadReport load;
    std::unique_ptr<hypervisor::Vm> vm = resume(g2, dir, load);
    CHECK_FALSE(load.relocated);
    CHECK(load.bytesMapped > 0);
    CHECK(vm::digestOf(vm->guest().runtime(), kTimersByIdOnly) == before);
    requireVerified(vm->guest().space());
    runOnAndFinish(g2, *vm, good);
  }
}

TEST_CASE("a lazy sweep left running ends in steps the guest is served between, before a snapshot's arming") {
  TempDir tmp;
  GuestFixture g({{"Workers", kWorkers}}, GuestFixture::sweepLazily);
  g.vm->startGuest("Workers", {});
  g.vm->runGuestFor(std::chrono::milliseconds(30));
  g.leaveLazySweep();
  space::Space& s = g.vm->guest().space();
  space::GcStats before = s.stats();
  image::SnapshotReport r = hypervisor::takeSnapshot(
      *g.vm, {(tmp.path / "image").string(), "guest", image::CaptureMode::Cow, std::chrono::seconds(5)});
  CHECK(r.pagesWritten > 0);
  // Ended by steps, never at once. (A GC stress build collects at every allocation the
  // guest makes between the steps, each collection leaving a sweep of its own.)
  if (!s.config().gcStress) {
    CHECK_FALSE(s.sweeping());
    CHECK(s.stats().lazySweeps == before.lazySweeps + 1);
    CHECK(s.stats().lazySweepsFinishedAtOnce == before.lazySweepsFinishedAtOnce);
  }
  g.pause();
  requireVerified(s);
  g.vm->evaluateInGuest("system global: #Stop put: true");
  g.vm->resumeGuest();
  CHECK(g.vm->finishGuest().kind == vm::ProgramOutcome::Kind::Finished);
}

TEST_CASE("a cow snapshot of a guest whose eden is over a quarter full scavenges first, in a pause of its own") {
  TempDir tmp;
  GuestFixture g({{"Workers", kWorkers}});
  g.vm->startGuest("Workers", {});
  g.vm->runGuestFor(std::chrono::milliseconds(30));
  space::Space& s = g.vm->guest().space();
  // Nearly empty: no scavenge ahead.
  g.pause();
  s.scavenge();
  g.vm->resumeGuest();
  image::SnapshotReport quiet = hypervisor::takeSnapshot(
      *g.vm, {(tmp.path / "quiet").string(), "guest", image::CaptureMode::Cow, std::chrono::seconds(5)});
  CHECK(quiet.scavengeAheadMicros == 0);
  // 10,000 arrays of ten slots: about 1 MiB, half of an eden the quiet guest has shrunk
  // to 2 MiB (Space::resizeEden).
  g.pause();
  g.vm->evaluateInGuest("system global: #Junk put: ((1 to: 10000) collect: [ :i | Array new: 10 withAll: i ])");
  int64_t good = g.guestInteger("^ system global: #Good");
  g.vm->resumeGuest();
  bool edenFilled = s.nursery().eden.used() > s.nursery().eden.capacity() / 4;  // not in a GC stress build
  uint64_t scavengesBefore = s.stats().scavenges;
  std::string dir = (tmp.path / "image").string();
  image::SnapshotReport r =
      hypervisor::takeSnapshot(*g.vm, {dir, "guest", image::CaptureMode::Cow, std::chrono::seconds(5)});
  if (edenFilled) {
    CHECK(r.scavengeAheadMicros > 0);
    CHECK(r.reachPauseMicros >= r.scavengeAheadMicros);
    CHECK(s.stats().scavenges > scavengesBefore);
    // The image's eden holds what the guest allocated between the two pauses.
    image::LoadReport peek;
    image::Manifest m = image::readImage(dir, image::LoadOptions{}, peek);
    const space::Nursery::State& young = m.spaceState.nursery;
    CHECK(young.edenTop - young.edenStart <= s.nursery().eden.capacity() / 4);
  }
  // The arrays, moved by the scavenge, are in the image as the guest held them.
  image::LoadReport load;
  std::unique_ptr<hypervisor::Vm> vm = resume(g, dir, load);
  requireVerified(vm->guest().space());
  vm->startGuestFromImage();
  vm->runGuestFor(std::chrono::milliseconds(20));
  REQUIRE(vm->pauseGuest(std::chrono::seconds(5)) == hypervisor::PauseOutcome::Paused);
  CHECK(vm->evaluateInGuest("^ (system global: #Junk) size").get().smallInteger() == 10000);
  CHECK(vm->evaluateInGuest("^ ((system global: #Junk) at: 1234) at: 10").get().smallInteger() == 1234);
  CHECK(vm->evaluateInGuest("^ system global: #Good").get().smallInteger() >= good);
  vm->evaluateInGuest("system global: #Stop put: true");
  vm->resumeGuest();
  CHECK(vm->finishGuest().kind == vm::ProgramOutcome::Kind::Finished);
  CHECK(g.output().find("bad: 0") != std::string::npos);
}

TEST_CASE("an image whose address range is taken is relocated, and resumes the same") {
  TempDir tmp;
  std::string dir = (tmp.path / "image").string();
  GuestFixture g({{"Workers", kWorkers}});
  g.vm->startGuest("Workers", {});
  g.vm->runGuestFor(std::chrono::milliseconds(30));
  g.pause();
  int64_t good = g.guestInteger("^ system global: #Good");
  vm::HeapDigest before = vm::digestOf(g.vm->guest().runtime(), kTimersByIdOnly);
  hypervisor::takeSnapshot(*g.vm, {dir, "guest", image::CaptureMode::Cow, std::chrono::seconds(5)});
  // The original still holds the recorded range.
  GuestFixture g2({{"Unused", "Unused = ( )"}});
  image::LoadReport load;
  std::unique_ptr<hypervisor::Vm> vm = resume(g2, dir, load);
  CHECK(load.relocated);
  CHECK(load.objectsRelocated > 1000);
  CHECK(vm::digestOf(vm->guest().runtime(), kTimersByIdOnly) == before);
  requireVerified(vm->guest().space());
  runOnAndFinish(g2, *vm, good);
  g.vm->evaluateInGuest("system global: #Stop put: true");
  g.vm->resumeGuest();
  CHECK(g.vm->finishGuest().kind == vm::ProgramOutcome::Kind::Finished);
}

TEST_CASE("snapshots in a row, of a guest that keeps writing, each resume what it held") {
  TempDir tmp;
  GuestFixture g({{"Workers", kWorkers}});
  g.vm->startGuest("Workers", {});
  std::vector<std::pair<std::string, vm::HeapDigest>> images;
  for (int i = 0; i < 3; i++) {
    g.vm->runGuestFor(std::chrono::milliseconds(20));
    std::string dir = (tmp.path / ("image-" + std::to_string(i))).string();
    // The digest of what the snapshot holds: taken in a pause of our own, then the
    // snapshot keeps the guest paused (a caller's pause is left as it is).
    g.pause();
    vm::HeapDigest d = vm::digestOf(g.vm->guest().runtime(), kTimersByIdOnly);
    hypervisor::takeSnapshot(*g.vm, {dir, "guest", image::CaptureMode::Cow, std::chrono::seconds(5)});
    g.vm->resumeGuest();
    images.emplace_back(dir, d);
  }
  // The same directory again: the image there is replaced.
  std::string again = images.back().first;
  g.vm->runGuestFor(std::chrono::milliseconds(20));
  image::SnapshotReport r =
      hypervisor::takeSnapshot(*g.vm, {again, "guest", image::CaptureMode::Cow, std::chrono::seconds(5)});
  CHECK(r.pauseMicros > 0);
  CHECK(r.pauseCpuMicros > 0);
  CHECK(r.pauseCpuMicros <= r.pauseMicros + 1000);  // two clocks, read a moment apart
  CHECK(std::none_of(fs::directory_iterator(tmp.path), fs::directory_iterator(), [](const fs::directory_entry& e) {
    return e.path().filename().string().find(".partial-") != std::string::npos;
  }));
  g.pause();
  g.vm->evaluateInGuest("system global: #Stop put: true");
  g.vm->resumeGuest();
  g.vm->finishGuest();
  for (size_t i = 0; i + 1 < images.size(); i++) {
    GuestFixture g2({{"Unused", "Unused = ( )"}});
    image::LoadReport load;
    std::unique_ptr<hypervisor::Vm> vm = resume(g2, images[i].first, load);
    CHECK(vm::digestOf(vm->guest().runtime(), kTimersByIdOnly) == images[i].second);
  }
}

TEST_CASE(
    "a snapshot armed while the guest runs holds the state of its pause, also when a full collection disarmed it") {
  for (bool collect : {false, true}) {
    CAPTURE(collect);
    TempDir tmp;
    std::string dir = (tmp.path / "image").string();
    vm::HeapDigest atCapture;
    {
      GuestFixture g({{"Workers", kWorkers}});
      g.vm->startGuest("Workers", {});
      g.vm->runGuestFor(std::chrono::milliseconds(20));
      vm::Runtime& rt = g.vm->guest().runtime();
      image::ImageWriter writer(dir, image::CaptureMode::Cow);
      bool armed = writer.arm(rt.space());
      MESSAGE("armed: ", armed);
      // The guest writes its heap while (and after) the protection is set up.
      while (!writer.armed()) g.vm->runGuestFor(std::chrono::milliseconds(2));
      g.vm->runGuestFor(std::chrono::milliseconds(20));
      g.pause();
      if (collect) {
        g.vm->evaluateInGuest("system fullGC");  // releases pages: the arming is dropped
        CHECK(writer.armed());
      }
      atCapture = vm::digestOf(rt, kTimersByIdOnly);
      writer.capture(rt.space(), rt, "guest");
      g.vm->resumeGuest();
      while (!writer.finished()) g.vm->runGuestFor(std::chrono::milliseconds(2));
      writer.releaseSpace();
      image::SnapshotReport r = writer.finish();
      // (Under GC stress full collections come at every turn and disarm it too.)
      if (armed && !collect && !rt.space().config().gcStress) CHECK(r.armMicros > 0);
      if (collect) CHECK(r.armMicros == 0);
      g.pause();
      requireVerified(rt.space());
      g.vm->evaluateInGuest("system global: #Stop put: true");
      g.vm->resumeGuest();
      g.vm->finishGuest();
    }
    GuestFixture g2({{"Unused", "Unused = ( )"}});
    image::LoadReport load;
    std::unique_ptr<hypervisor::Vm> vm = resume(g2, dir, load);
    CHECK(vm::digestOf(vm->guest().runtime(), kTimersByIdOnly) == atCapture);
    requireVerified(vm->guest().space());
  }
}

TEST_CASE("a full collection that falls due while a cow snapshot is written runs at once, the image as captured") {
  TempDir tmp;
  std::string dir = (tmp.path / "image").string();
  vm::HeapDigest atCapture;
  {
    GuestFixture g({{"Workers", kWorkers}});
    g.vm->startGuest("Workers", {});
    g.vm->runGuestFor(std::chrono::milliseconds(20));
    g.pause();
    vm::Runtime& rt = g.vm->guest().runtime();
    space::Space& s = rt.space();
    // Old objects that die once the snapshot has begun: the collection's to free.
    g.vm->evaluateInGuest("system global: #Doomed put: ((1 to: 200) collect: [ :i | Array new: 5000 withAll: i ])");
    // No sweep left at the capture: one would follow the writer, and no collection could
    // run under the hold until it ended (whether one is left depends on how much the
    // guest's workers allocated in their 20 ms).
    s.finishSweeping();
    atCapture = vm::digestOf(rt, kTimersByIdOnly);
    image::ImageWriter writer(dir, image::CaptureMode::Cow);
    // The writer far behind the busy guest: 1 MiB/s. (Held back altogether, it would not
    // spill the copies the guest's writes save either, and the guest would wait for it.)
    setenv("ESPELL_SNAPSHOT_BUSY_MIBS", "1", 1);
    writer.capture(s, rt, "guest");
    uint64_t full = s.stats().fullCollections;  // any collection from here on runs under the hold
    g.vm->evaluateInGuest("system global: #Doomed put: nil");
    // Old garbage until the collection falls due: arrays past the large-object size
    // (256 KiB), allocated old. (Arrays of 80 KiB, as this test had, are young: only what
    // scavenges happened to promote of them counted, and with a larger eden that was not
    // enough in 100 rounds.)
    REQUIRE(40000 * sizeof(space::Oop) > s.config().largeObjectBytes);
    for (int i = 0; i < 20 && s.stats().fullCollections == full; i++)
      g.vm->evaluateInGuest("1 to: 20 do: [ :i | Array new: 40000 ]");
    // What decides whether a due collection runs under the hold (Space::fullCollectionDue,
    // collectsUnderHold), for a failure to say which condition kept it off.
    const space::OldSpace& old = s.oldSpace();
    INFO("allocated since the sweep ", old.allocatedSinceSweep(), " of a threshold ",
         s.fullCollectionThreshold(old.liveBytesAtLastSweep()), "; holds the heap ", s.snapshotHoldsHeap(),
         "; sweeping ", s.sweeping(), "; checkpoint ", s.checkpoint() != nullptr, "; committed ", old.committedBytes(),
         " of ", s.config().maxOldBytes, "; writer finished ", writer.finished());
    CHECK(s.stats().fullCollections > full);
    // Not waited for. (A GC stress build collects again at once, before the first
    // collection's sweep has ended: that one waits for the writer.)
    if (!s.config().gcStress) {
      CHECK_FALSE(writer.finished());
      CHECK(s.sweepHeldBack());
    }
    g.vm->resumeGuest();
    g.vm->runGuestFor(std::chrono::milliseconds(20));
    writer.releaseSpace();
    image::SnapshotReport r = writer.finish();  // no longer paced
    unsetenv("ESPELL_SNAPSHOT_BUSY_MIBS");
    CHECK(r.pagesWritten > 0);
    g.pause();
    s.finishSweeping();
    requireVerified(s);
    g.vm->evaluateInGuest("system global: #Stop put: true");
    g.vm->resumeGuest();
    CHECK(g.vm->finishGuest().kind == vm::ProgramOutcome::Kind::Finished);
  }
  GuestFixture g2({{"Unused", "Unused = ( )"}});
  image::LoadReport load;
  std::unique_ptr<hypervisor::Vm> vm = resume(g2, dir, load);
  CHECK(vm::digestOf(vm->guest().runtime(), kTimersByIdOnly) == atCapture);
  requireVerified(vm->guest().space());
  vm->startGuestFromImage();
  vm->runGuestFor(std::chrono::milliseconds(20));
  REQUIRE(vm->pauseGuest(std::chrono::seconds(5)) == hypervisor::PauseOutcome::Paused);
  CHECK(vm->evaluateInGuest("^ ((system global: #Doomed) at: 123) at: 4999").get().smallInteger() == 123);
  vm->evaluateInGuest("system global: #Stop put: true");
  vm->resumeGuest();
  CHECK(vm->finishGuest().kind == vm::ProgramOutcome::Kind::Finished);
}

TEST_CASE("the hypervisor space can be snapshotted while the guest runs") {
  TempDir tmp;
  std::string dir = (tmp.path / "hv").string();
  GuestFixture g({{"Workers", kWorkers}});
  g.vm->startGuest("Workers", {});
  g.vm->runGuestFor(std::chrono::milliseconds(20));
  vm::HeapDigest before = vm::digestOf(g.vm->hypervisor().runtime());
  image::SnapshotReport r =
      hypervisor::takeSnapshot(*g.vm, {dir, "hypervisor", image::CaptureMode::Cow, std::chrono::seconds(5)});
  CHECK(r.space == "hypervisor");
  image::LoadReport load;
  image::Manifest m = image::readImage(dir, image::LoadOptions{}, load);
  CHECK(m.space == "hypervisor");
  // Loaded into a space of its own, its objects are the hypervisor's as they were.
  space::Space s(image::spaceConfigFor(m, space::SpaceConfig()), space::Space::ForImage{});
  {
    image::ImageMappings mappings;
    mappings.place(dir, m, s, image::LoadOptions{}, load);
    requireVerified(s);
  }
  CHECK(vm::digestOf(g.vm->hypervisor().runtime()) == before);
  g.pause();
  g.vm->evaluateInGuest("system global: #Stop put: true");
  g.vm->resumeGuest();
  g.vm->finishGuest();
}

TEST_CASE("damaged, truncated, foreign and tampered images are refused, naming what is wrong") {
  TempDir tmp;
  std::string dir = (tmp.path / "image").string();
  {
    GuestFixture g({{"Workers", kWorkers}});
    g.vm->startGuest("Workers", {});
    g.vm->runGuestFor(std::chrono::milliseconds(20));
    hypervisor::takeSnapshot(*g.vm, {dir, "guest", image::CaptureMode::Cow, std::chrono::seconds(5)});
    g.pause();
    g.vm->evaluateInGuest("system global: #Stop put: true");
    g.vm->resumeGuest();
    g.vm->finishGuest();
  }
  fs::path manifestPath = fs::path(dir) / "manifest.json";
  const std::string manifest = readFile(manifestPath);
  image::Manifest good = image::fromJson(manifest, "manifest.json");
  fs::path segment = fs::path(dir) / good.segments.front().file;
  const std::string segmentBytes = readFile(segment);

  auto refused = [&](const std::string& expected) {
    image::LoadReport r;
    try {
      image::readImage(dir, image::LoadOptions{image::Verification::First, {}, {}}, r);
      FAIL("accepted, expected: " << expected);
    } catch (const image::ImageError& e) {
      std::string message = e.what();
      CAPTURE(message);
      CHECK(message.find(expected) != std::string::npos);
    }
  };
  auto writeManifest = [&](const std::string& text) { std::ofstream(manifestPath, std::ios::binary) << text; };
  auto withField = [&](auto change) {
    image::Manifest m = good;
    change(m);
    writeManifest(image::toJson(m));
  };

  writeManifest("{\"formatVersion\": 1,");
  refused("not valid JSON");
  writeManifest(manifest.substr(0, manifest.size() / 2));
  refused("not valid JSON");
  std::string tampered = manifest;
  size_t taken = tampered.find("\"takenAt\": \"") + 12;  // the first digit of the year
  tampered[taken] = tampered[taken] == '1' ? '2' : '1';
  writeManifest(tampered);
  refused("checksum");
  withField([](image::Manifest& m) { m.wordSize = 4; });
  refused("4-byte word");
  withField([](image::Manifest& m) { m.byteOrder = "big"; });
  refused("big-endian");
  withField([](image::Manifest& m) { m.formatVersion = image::kFormatVersion + 1; });
  refused("image format " + std::to_string(image::kFormatVersion + 1));
  withField([](image::Manifest& m) { m.espellVersion = "0.0.1"; });
  refused("made by Espell 0.0.1");
  withField([](image::Manifest& m) { m.segments.front().file = "../etc/passwd"; });
  refused("not a plain file name");
  withField([](image::Manifest& m) { m.segments.front().offset += 4096 * 1024 * 1024ull * 64; });
  refused("segments[0]");
  withField(
      [](image::Manifest& m) { m.spaceState.specialObjects = space::Oop::fromObject(reinterpret_cast<void*>(8)); });
  refused("spaceState.specialObjects");
  // The nursery, taken as it is: its tops inside their regions, where the layout puts them.
  withField([](image::Manifest& m) { m.spaceState.nursery.edenTop = m.spaceState.nursery.edenEnd + 8; });
  refused("spaceState.nursery.edenTop");
  withField([](image::Manifest& m) { m.spaceState.nursery.survivorStart += 4096; });
  refused("spaceState.nursery.survivorStart");
  withField([](image::Manifest& m) { m.spaceState.nursery.fromIndex = 2; });
  refused("spaceState.nursery.fromSurvivor");
  withField([](image::Manifest& m) {  // a young object (or, if eden is empty, none at all)
    m.spaceState.remembered.push_back(space::Oop::fromObject(reinterpret_cast<void*>(m.spaceState.nursery.edenStart)));
  });
  refused("spaceState.remembered");
  writeManifest(manifest);

  // Segments.
  std::ofstream(segment, std::ios::binary) << segmentBytes.substr(0, segmentBytes.size() - 4096);
  refused("truncated");
  std::string flipped = segmentBytes;
  flipped[flipped.size() / 2] ^= 0x40;
  std::ofstream(segment, std::ios::binary) << flipped;
  refused("SHA-256 does not match");
  refused(segment.filename().string());
  REQUIRE(good.segments.size() > 1);  // eden, the survivors and old space at least
  {
    // Segments are checked on several threads; the first damaged one in manifest order is named.
    fs::path last = fs::path(dir) / good.segments.back().file;
    const std::string lastBytes = readFile(last);
    std::string lastFlipped = lastBytes;
    lastFlipped[lastFlipped.size() / 2] ^= 0x40;
    std::ofstream(last, std::ios::binary) << lastFlipped;
    refused(segment.filename().string());
    std::ofstream(segment, std::ios::binary) << segmentBytes;
    refused(last.filename().string());
    std::ofstream(last, std::ios::binary) << lastBytes;
    std::ofstream(segment, std::ios::binary) << flipped;
  }
  fs::remove(segment);
  refused("segment file missing");
  std::ofstream(segment, std::ios::binary) << segmentBytes;

  // A directory whose writing never finished has no manifest.
  fs::remove(manifestPath);
  refused("missing");
  refused("manifest.json");
  {
    image::LoadReport r;
    CHECK_THROWS_AS(image::readImage((tmp.path / "nothing").string(), image::LoadOptions{}, r), image::ImageError);
  }
  writeManifest(manifest);
  image::LoadReport r;
  CHECK_NOTHROW(image::readImage(dir, image::LoadOptions{}, r));
}

TEST_CASE("a snapshot into a place that cannot hold it fails without leaving anything") {
  TempDir tmp;
  GuestFixture g({{"Workers", kWorkers}});
  g.vm->startGuest("Workers", {});
  g.vm->runGuestFor(std::chrono::milliseconds(20));
  std::string missingParent = (tmp.path / "no" / "such" / "image").string();
  CHECK_THROWS_WITH_AS(
      hypervisor::takeSnapshot(*g.vm, {missingParent, "guest", image::CaptureMode::Cow, std::chrono::seconds(5)}),
      doctest::Contains("does not exist"), image::ImageError);
  fs::path file = tmp.path / "a-file";
  std::ofstream(file) << "not an image";
  CHECK_THROWS_WITH_AS(
      hypervisor::takeSnapshot(*g.vm, {file.string(), "guest", image::CaptureMode::Cow, std::chrono::seconds(5)}),
      doctest::Contains("not an image"), image::ImageError);
  CHECK(readFile(file) == "not an image");
  g.pause();
  g.vm->evaluateInGuest("system global: #Stop put: true");
  g.vm->resumeGuest();
  CHECK(g.vm->finishGuest().kind == vm::ProgramOutcome::Kind::Finished);
}

TEST_CASE("hypervisor Smalltalk takes a snapshot with Guest snapshotTo:, but not inside an update") {
  TempDir tmp;
  std::string dir = (tmp.path / "from-smalltalk").string();
  GuestFixture g({{"Workers", kWorkers}});
  g.vm->startGuest("Workers", {});
  g.vm->runGuestFor(std::chrono::milliseconds(20));
  space::Handle report = g.vm->evaluateInHypervisor("^ Guest snapshotTo: '" + dir + "'");
  REQUIRE(vm::isString(g.vm->hypervisor().runtime(), report.get()));
  CHECK(std::string(vm::bytesOf(report.get())).find("snapshot of the guest space") != std::string::npos);
  image::LoadReport load;
  CHECK(image::readImage(dir, image::LoadOptions{}, load).space == "guest");
  // Inside an update (a checkpoint of the guest is active) it is refused.
  g.pause();
  {
    vm::RuntimeCheckpoint checkpoint(g.vm->guest().runtime());
    std::string refused = (tmp.path / "refused").string();
    CHECK_THROWS_WITH(g.vm->evaluateInHypervisor("^ Guest snapshotTo: '" + refused + "'"),
                      doctest::Contains("inside an update"));
    CHECK_FALSE(fs::exists(refused));
  }
  g.vm->evaluateInGuest("system global: #Stop put: true");
  g.vm->resumeGuest();
  CHECK(g.vm->finishGuest().kind == vm::ProgramOutcome::Kind::Finished);
}

namespace {

// A program whose state at any moment is rich: processes waiting on a semaphore and on
// Delays, a computation deep inside ensure: blocks, exception handlers and a non-local
// return, closures over shared variables, dictionaries, large integers and strings. Each
// step passes an update point, so it can be snapshotted anywhere; its output does not
// depend on timing.
const char* kJourney = R"(
Journey = (
    | log total shared |
    run = (
        | done waiter |
        log := OrderedCollection new.
        total := 0.
        shared := Dictionary new.
        done := Semaphore new.
        waiter := [ done wait. log add: 'woken' ] fork.
        [ 1 to: 30 do: [ :i | (Delay forMilliseconds: 1) wait. shared at: i put: i factorial. Chester updatePoint ] ] fork.
        1 to: 60 do: [ :i | self step: i ].
        done signal.
        [ (shared includesKey: 30) ] whileFalse: [ (Delay forMilliseconds: 1) wait ].
        (Delay forMilliseconds: 2) wait.
        log do: [ :each | each println ].
        total println.
        (shared at: 30) println )
    step: i = (
        | counter block |
        counter := 0.
        block := [ :n | counter := counter + n. counter ].
        [ [ self deep: i with: block ] ensure: [ total := total + counter ] ]
            on: ZeroDivide do: [ :e | log add: 'divided by zero at ' + i asString. e return: 0 ].
        i \\ 20 = 0 ifTrue: [ log add: 'step ' + i asString + ' ' + (self find: i) asString ] )
    deep: i with: block = (
        i = 0 ifTrue: [ ^ 0 ].
        block value: i.
        Chester updatePoint.
        (Delay forMilliseconds: 1) wait.
        i \\ 25 = 0 ifTrue: [ ^ 1 / 0 ].
        ^ i > 1 ifTrue: [ (i \\ 7) = 0 ifTrue: [ i ] ifFalse: [ self deep: i // 2 with: block ] ] ifFalse: [ i ] )
    find: i = (
        #(3 5 8 13 21) do: [ :each | each > (i // 10) ifTrue: [ ^ each ] ].
        ^ nil )
)
)";

}  // namespace

TEST_CASE("a program snapshotted anywhere in its run resumes to the same end") {
  std::string expected;
  {
    GuestFixture g({{"Journey", kJourney}});
    REQUIRE(g.vm->runGuest("Journey", {}).kind == vm::ProgramOutcome::Kind::Finished);
    expected = g.output();
  }
  REQUIRE(expected.find("divided by zero at 25") != std::string::npos);
  for (int afterMillis : {3, 25, 60}) {
    CAPTURE(afterMillis);
    TempDir tmp;
    std::string dir = (tmp.path / "journey").string();
    std::string before;
    vm::HeapDigest digest;
    {
      GuestFixture g({{"Journey", kJourney}});
      g.vm->startGuest("Journey", {});
      g.vm->runGuestFor(std::chrono::milliseconds(afterMillis));
      REQUIRE_FALSE(g.vm->guestFinished());
      g.pause();
      digest = vm::digestOf(g.vm->guest().runtime(), kTimersByIdOnly);
      hypervisor::takeSnapshot(*g.vm, {dir, "guest", image::CaptureMode::Cow, std::chrono::seconds(5)});
      before = g.output();
    }
    GuestFixture g2({{"Unused", "Unused = ( )"}});
    image::LoadReport load;
    std::unique_ptr<hypervisor::Vm> vm = resume(g2, dir, load);
    CHECK(vm::digestOf(vm->guest().runtime(), kTimersByIdOnly) == digest);
    vm->startGuestFromImage();
    CHECK(vm->finishGuest().kind == vm::ProgramOutcome::Kind::Finished);
    CHECK(before + g2.output() == expected);
  }
}

TEST_CASE("a second snapshot of a space while the first is still being written waits for it") {
  TempDir tmp;
  std::string first = (tmp.path / "first").string(), second = (tmp.path / "second").string();
  GuestFixture g({{"Workers", kWorkers}});
  g.vm->startGuest("Workers", {});
  g.vm->runGuestFor(std::chrono::milliseconds(20));
  g.pause();
  vm::Runtime& rt = g.vm->guest().runtime();
  vm::HeapDigest before = vm::digestOf(rt, kTimersByIdOnly);
  image::ImageWriter a(first, image::CaptureMode::Cow);
  a.capture(rt.space(), rt, "guest");
  // The guest changes between the two captures.
  g.vm->evaluateInGuest("system global: #Between put: 42");
  vm::HeapDigest changed = vm::digestOf(rt, kTimersByIdOnly);
  image::ImageWriter b(second, image::CaptureMode::Cow);
  b.capture(rt.space(), rt, "guest");  // finishes writing a's pages first
  CHECK(a.finished());
  a.finish();
  b.finish();
  g.vm->evaluateInGuest("system global: #Stop put: true");
  g.vm->resumeGuest();
  g.vm->finishGuest();
  for (const auto& [dir, digest] : {std::pair{first, before}, std::pair{second, changed}}) {
    GuestFixture g2({{"Unused", "Unused = ( )"}});
    image::LoadReport load;
    std::unique_ptr<hypervisor::Vm> vm = resume(g2, dir, load);
    CHECK(vm::digestOf(vm->guest().runtime(), kTimersByIdOnly) == digest);
  }
}

TEST_CASE("a writer that fails leaves the space's full collections unharmed; finishing the snapshot reports it") {
  TempDir tmp;
  std::string dir = (tmp.path / "image").string();
  GuestFixture g({{"Workers", kWorkers}});
  g.vm->startGuest("Workers", {});
  g.vm->runGuestFor(std::chrono::milliseconds(20));
  g.pause();
  vm::Runtime& rt = g.vm->guest().runtime();
  // A file-size limit under the first segment file: the writer fails once it starts (the
  // VM ignores SIGXFSZ, as this test does, so the write fails with EFBIG).
  struct rlimit was {};
  REQUIRE(getrlimit(RLIMIT_FSIZE, &was) == 0);
  auto oldHandler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit limited = {4096, was.rlim_max};
  REQUIRE(setrlimit(RLIMIT_FSIZE, &limited) == 0);
  image::ImageWriter writer(dir, image::CaptureMode::Cow);
  writer.capture(rt.space(), rt, "guest");
  while (!writer.finished()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  setrlimit(RLIMIT_FSIZE, &was);
  std::signal(SIGXFSZ, oldHandler);
  // A full collection waits for the snapshot's writer first: its failure is not the
  // collection's.
  CHECK_NOTHROW(g.vm->evaluateInGuest("system fullGC"));
  requireVerified(rt.space());
  writer.releaseSpace();
  CHECK_THROWS_WITH_AS(writer.finish(), doctest::Contains("File too large"), image::ImageError);
  CHECK(!fs::exists(dir));
  g.vm->evaluateInGuest("system global: #Stop put: true");
  g.vm->resumeGuest();
  CHECK(g.vm->finishGuest().kind == vm::ProgramOutcome::Kind::Finished);
}

TEST_CASE("segment files tile the regions holding objects in pieces of at most kSegmentFileBytes") {
  constexpr uintptr_t kMiB = uintptr_t(1) << 20;
  const uintptr_t base = uintptr_t(1) << 40;
  space::SpaceImageState s;
  s.nursery.edenStart = base;
  s.nursery.edenTop = base + 5000;  // one page and a bit: two pages
  s.nursery.survivorStart = base + 16 * kMiB;
  s.nursery.survivorTop = s.nursery.survivorStart;  // empty: no file
  s.oldSpace.segments.push_back(space::Segment{base + 32 * kMiB, base + 42 * kMiB, base + 42 * kMiB});
  s.oldSpace.segments.push_back(space::Segment{base + 64 * kMiB, base + 72 * kMiB, base + 72 * kMiB});
  s.oldSpace.bumpSegment = 1;
  s.oldSpace.bumpTop = base + 68 * kMiB;  // the bump segment holds objects up to its bump top
  std::vector<space::MemoryRange> files = image::segmentFiles(s);
  std::vector<std::pair<uintptr_t, uintptr_t>> got;
  for (const space::MemoryRange& f : files) got.emplace_back(f.start - base, f.end - base);
  std::vector<std::pair<uintptr_t, uintptr_t>> expected = {
      {0, 8192}, {32 * kMiB, 36 * kMiB}, {36 * kMiB, 40 * kMiB}, {40 * kMiB, 42 * kMiB}, {64 * kMiB, 68 * kMiB}};
  CHECK(got == expected);
  static_assert(image::kSegmentFileBytes == 4 * kMiB);
}
