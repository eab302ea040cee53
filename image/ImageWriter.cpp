// ImageWriter: see ImageWriter.h.
#include "image/ImageWriter.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "image/Sha256.h"
#include "space/MonotonicClock.h"
#include "space/UncheckedPages.h"

namespace image {

namespace fs = std::filesystem;

namespace {

std::string utcNow() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void fsyncPath(const std::string& path, int flags) {
  int fd = open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) throw ImageError(path + ": cannot open to sync: " + std::strerror(errno));
  int r = fsync(fd);
  int e = errno;
  close(fd);
  if (r != 0) throw ImageError(path + ": fsync failed: " + std::strerror(e));
}

void writeFileSynced(const std::string& path, const std::string& text) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw ImageError(path + ": cannot create: " + std::strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      close(fd);
      throw ImageError(path + ": cannot write: " + std::strerror(e));
    }
    done += size_t(n);
  }
  if (fsync(fd) != 0) {
    int e = errno;
    close(fd);
    throw ImageError(path + ": fsync failed: " + std::strerror(e));
  }
  close(fd);
}

std::string parentOf(const std::string& directory) {
  fs::path p = fs::path(directory).parent_path();
  return p.empty() ? "." : p.string();
}

}  // namespace

CaptureMode parseCaptureMode(const std::string& name) {
  if (name == "cow") return CaptureMode::Cow;
  if (name == "copy") return CaptureMode::Copy;
  if (name == "fork") return CaptureMode::Fork;
  throw ImageError("unknown snapshot mode '" + name + "' (expected cow, copy or fork)");
}

const char* captureModeName(CaptureMode mode) {
  switch (mode) {
    case CaptureMode::Cow:
      return "cow";
    case CaptureMode::Copy:
      return "copy";
    case CaptureMode::Fork:
      return "fork";
  }
  return "?";
}

double SnapshotReport::throughputMiBPerSecond() const {
  return writeMicros > 0 ? double(bytesWritten) / double(1 << 20) / (double(writeMicros) / 1e6) : 0.0;
}

double SnapshotReport::cachedThroughputMiBPerSecond() const {
  return cachedMicros > 0 ? double(bytesWritten) / double(1 << 20) / (double(cachedMicros) / 1e6) : 0.0;
}

std::string SnapshotReport::toJson() const {
  nlohmann::json j = {{"directory", directory},
                      {"space", space},
                      {"mode", mode},
                      {"protection", protection},
                      {"reachPauseMicros", reachPauseMicros},
                      {"scavengeAheadMicros", scavengeAheadMicros},
                      {"pauseMicros", pauseMicros},
                      {"pauseCpuMicros", pauseCpuMicros},
                      {"stateMicros", stateMicros},
                      {"captureMicros", captureMicros},
                      {"armMicros", armMicros},
                      {"pagesProtectedInPause", pagesProtectedInPause},
                      {"heapBytes", heapBytes},
                      {"freeBytes", freeBytes},
                      {"pagesWritten", pagesWritten},
                      {"pagesSavedByCow", pagesSavedByCow},
                      {"zeroPagesSaved", zeroPagesSaved},
                      {"pagesSpilled", pagesSpilled},
                      {"savesWaited", savesWaited},
                      {"pacedMicros", pacedMicros},
                      {"peakExtraBytes", peakExtraBytes},
                      {"bytesWritten", bytesWritten},
                      {"holeBytes", holeBytes},
                      {"directWrites", directWrites},
                      {"cachedMicros", cachedMicros},
                      {"cachedThroughputMiBPerSecond", cachedThroughputMiBPerSecond()},
                      {"writeMicros", writeMicros},
                      {"throughputMiBPerSecond", throughputMiBPerSecond()},
                      {"totalMicros", totalMicros}};
  return j.dump();
}

std::string SnapshotReport::toText() const {
  char buf[2048];  // eleven lines and the directory's path
  double share = heapBytes ? 100.0 * double(peakExtraBytes) / double(heapBytes) : 0.0;
  std::snprintf(
      buf, sizeof buf,
      "snapshot of the %s space in %s (%s, %s)\n"
      "  pause             %lld us, %lld us of it running (state %lld us, pages %lld us; reaching the pause took %lld "
      "us, a scavenge ahead of it %lld us)\n"
      "  protected         %zu pages in the pause (armed ahead in %lld us)\n"
      "  pages written     %zu (%.1f MiB heap, %.1f MiB of it free chunks)\n"
      "  saved on write    %zu pages (%zu of them all zeros, not copied; %zu spilled to disk; %zu saves waited for the "
      "writer to spill)\n"
      "  extra memory      %.1f MiB at peak (%.2f%% of the heap)\n"
      "  written           %.1f MiB (%.1f MiB of it holes) in %lld ms (%.0f MiB/s)%s\n"
      "  paced             %lld ms (the writer held its rate while the program was busy)\n"
      "  durable           in %lld ms (%.0f MiB/s)\n"
      "  total             %lld ms\n",
      space.c_str(), directory.c_str(), mode.c_str(), protection.c_str(), (long long)pauseMicros,
      (long long)pauseCpuMicros, (long long)stateMicros, (long long)captureMicros, (long long)reachPauseMicros,
      (long long)scavengeAheadMicros, pagesProtectedInPause, (long long)armMicros, pagesWritten,
      double(heapBytes) / double(1 << 20), double(freeBytes) / double(1 << 20), pagesSavedByCow, zeroPagesSaved,
      pagesSpilled, savesWaited, double(peakExtraBytes) / double(1 << 20), share,
      double(bytesWritten) / double(1 << 20), double(holeBytes) / double(1 << 20), (long long)(cachedMicros / 1000),
      cachedThroughputMiBPerSecond(), directWrites ? " with O_DIRECT" : " to the page cache",
      (long long)(pacedMicros / 1000), (long long)(writeMicros / 1000), throughputMiBPerSecond(),
      (long long)(totalMicros / 1000));
  return buf;
}

ImageWriter::ImageWriter(std::string directory, CaptureMode mode)
    : directory_(std::move(directory)), mode_(mode), startedAt_(space::monotonicMicros()) {
  while (directory_.size() > 1 && directory_.back() == '/') directory_.pop_back();
  if (directory_.empty()) throw ImageError("no image directory given");
  std::string parent = parentOf(directory_);
  std::error_code ec;
  if (!fs::is_directory(parent, ec)) throw ImageError(directory_ + ": the directory " + parent + " does not exist");
  if (fs::exists(directory_, ec)) {
    if (!fs::is_directory(directory_, ec) || !fs::exists(fs::path(directory_) / kManifestFile, ec)) {
      throw ImageError(directory_ + ": exists and is not an image (it would be replaced)");
    }
  }
  std::string name = fs::path(directory_).filename().string();
  // Leftovers of snapshots into the same name that were killed while writing.
  for (const auto& entry : fs::directory_iterator(parent, ec)) {
    std::string n = entry.path().filename().string();
    if (n.rfind("." + name + ".partial-", 0) == 0) fs::remove_all(entry.path(), ec);
  }
  partial_ = (fs::path(parent) / ("." + name + ".partial-" + std::to_string(getpid()))).string();
  if (!fs::create_directory(partial_, ec)) {
    throw ImageError(partial_ + ": cannot create: " + (ec ? ec.message() : "exists"));
  }
  report_.directory = directory_;
  report_.mode = captureModeName(mode);
  // The first digest in a process loads OpenSSL's providers (about 2 ms): here, not in the
  // pause, where the runtime's state takes the digest of its primitives.
  Sha256 warmUp;
  warmUp.finish();
}

ImageWriter::~ImageWriter() {
  if (armedSpace_) armedSpace_->setSnapshotArming(nullptr);
  armed_.reset();
  if (!done_) {
    releaseSpace();
    pages_.reset();  // waits for the writer, leaves every page writable
    std::error_code ec;
    fs::remove_all(partial_, ec);
  }
}

bool ImageWriter::arm(space::Space& space) {
  if (armed_ || pages_) return false;
  // What capture() waits for first must not find the pages protected by us.
  space::awaitPagesChecked();  // a resumed image's pages still unreadable
  space.waitForPagesHold();
  space.finishPageRelease();
  space.disarmCheckpoint();
  space.finishSweeping();  // not in the pause; and before the pages are protected: it writes free chunks
  if (mode_ != CaptureMode::Cow) return false;
  // First: a segment it opens belongs to the ranges armed (from its start, empty yet).
  space::MemoryRange promotion = space.preparePromotionArea();
  std::vector<PageRange> ranges;
  for (const space::MemoryRange& r : space::SpaceImage::currentOldPages(space))
    ranges.push_back(PageRange{r.start, r.end});
  try {
    armed_ = armProtection(std::move(ranges), PageRange{promotion.start, promotion.end});
  } catch (const std::runtime_error&) {
    return false;  // the capture protects in the pause
  }
  armedSpace_ = &space;
  space.setSnapshotArming([this] {
    armed_.reset();
    armedSpace_ = nullptr;
  });
  return true;
}

bool ImageWriter::armed() const {
  return !armed_ || armed_->ready();
}

void ImageWriter::capture(space::Space& space, vm::Runtime& runtime, const std::string& spaceName) {
  if (pages_) throw std::logic_error("ImageWriter::capture called twice");
  if (armedSpace_ && armedSpace_ != &space) throw std::logic_error("ImageWriter armed for another space");
  // A snapshot of this space still being written finishes first (its pages are protected),
  // and so does checking a resumed image (its pages not checked yet are unreadable).
  space::awaitPagesChecked();
  space.waitForPagesHold();
  space.finishPageRelease();  // a checkpoint's pages still being made writable
  space.disarmCheckpoint();
  int64_t start = space::monotonicMicros();
  manifest_.espellVersion = espellVersion();
  manifest_.space = spaceName;
  manifest_.takenAt = utcNow();
  manifest_.mode = captureModeName(mode_);
  const space::SpaceConfig& c = space.config();
  manifest_.edenBytes = c.edenBytes;
  manifest_.minEdenBytes = std::min(c.minEdenBytes, c.edenBytes);
  manifest_.survivorBytes = c.survivorBytes;
  manifest_.maxOldBytes = c.maxOldBytes;
  manifest_.spaceState = space::SpaceImage::capture(space);
  manifest_.runtimeState = vm::RuntimeImage::capture(runtime);
  std::vector<PageRange> ranges;
  for (const space::MemoryRange& r : segmentFiles(manifest_.spaceState)) {
    ranges.push_back(PageRange{r.start, r.end});
    report_.heapBytes += r.end - r.start;
  }
  report_.freeBytes = manifest_.spaceState.oldSpace.freeBytes;
  report_.stateMicros = space::monotonicMicros() - start;
  report_.space = spaceName;
  // The nursery's pages come first in the ranges (SpaceImage::pages), and the writer
  // takes them without pacing itself (PageWriter).
  size_t nurseryPages = 0;
  for (const space::MemoryRange& r : space::SpaceImage::nurseryPages(manifest_.spaceState))
    nurseryPages += (r.end - r.start) / PageWriter::kPageSize;
  pages_ = std::make_unique<PageWriter>(std::move(ranges), mode_, partial_, nurseryPages);
  if (armedSpace_) armedSpace_->setSnapshotArming(nullptr);
  armedSpace_ = nullptr;
  pages_->capture(std::move(armed_));
  space_ = &space;
  // Copy and fork hold their own copy once capture() returns; cow reads the live pages.
  // A full collection that falls due meanwhile runs, its sweep following the writer
  // (Space::holdPages); one that cannot run hurries the writer: paced, it would be forced
  // later and wait for all that is left.
  if (mode_ == CaptureMode::Cow) {
    PageWriter* pages = pages_.get();
    space.holdPages({.finish = [this] { waitForPages(); },
                     .owed = [pages] { pages->hurry(); },
                     .captured = [pages](uintptr_t start, uintptr_t end) { return pages->needs(start, end); }});
  }
}

bool ImageWriter::finished() {
  return pagesDone_ || !pages_ || pages_->finished();
}

// Also the space's hold on its pages (Space::holdPages), run by a full collection or a
// checkpoint on the space's thread: a failed writer must not throw there, into the
// program's collection, but to whoever finishes the snapshot.
void ImageWriter::waitForPages() {
  if (pagesDone_ || !pages_) return;
  pagesDone_ = true;
  try {
    pageReport_ = pages_->wait();
  } catch (const std::exception& e) {
    pagesFailure_ = e.what();
  }
}

void ImageWriter::releaseSpace() {
  if (space_) space_->releasePagesHold();
  space_ = nullptr;  // from here on nothing of the space is touched (finish() may run elsewhere)
}

SnapshotReport ImageWriter::finish() {
  if (!pages_) throw std::logic_error("ImageWriter::finish before capture");
  releaseSpace();
  waitForPages();
  if (!pagesFailure_.empty()) throw ImageError("writing the image's pages failed: " + pagesFailure_);
  for (size_t i = 0; i < pageReport_.segments.size(); i++) {
    const SegmentFile& f = pageReport_.segments[i];
    manifest_.segments.push_back(
        SegmentEntry{f.file, uint64_t(f.start - manifest_.spaceState.reservationBase), uint64_t(f.bytes), f.sha256});
  }
  writeFileSynced(partial_ + "/" + kManifestFile, toJson(manifest_));
  fsyncPath(partial_, O_RDONLY | O_DIRECTORY);
  // Into place: an image already there is renamed aside first, then removed.
  std::error_code ec;
  std::string aside;
  if (fs::exists(directory_, ec)) {
    aside = partial_ + ".old";
    fs::rename(directory_, aside, ec);
    if (ec) throw ImageError(directory_ + ": cannot replace the image there: " + ec.message());
  }
  fs::rename(partial_, directory_, ec);
  if (ec) throw ImageError(directory_ + ": cannot rename the new image into place: " + ec.message());
  fsyncPath(parentOf(directory_), O_RDONLY | O_DIRECTORY);
  if (!aside.empty()) fs::remove_all(aside, ec);
  done_ = true;

  report_.protection = pageReport_.protection;
  report_.captureMicros = pageReport_.captureMicros;
  report_.armMicros = pageReport_.armMicros;
  report_.pagesProtectedInPause = pageReport_.pagesProtectedInPause;
  report_.pagesWritten = pageReport_.pagesWritten;
  report_.pagesSavedByCow = pageReport_.pagesSavedByCow;
  report_.zeroPagesSaved = pageReport_.zeroPagesSaved;
  report_.pagesSpilled = pageReport_.pagesSpilled;
  report_.savesWaited = pageReport_.savesWaited;
  report_.pacedMicros = pageReport_.pacedMicros;
  report_.peakExtraBytes = pageReport_.peakExtraBytes;
  report_.bytesWritten = pageReport_.bytesWritten;
  report_.holeBytes = pageReport_.holeBytes;
  report_.cachedMicros = pageReport_.cachedMicros;
  report_.directWrites = pageReport_.directWrites;
  report_.writeMicros = pageReport_.writeMicros;
  report_.totalMicros = space::monotonicMicros() - startedAt_;
  return report_;
}

}  // namespace image
