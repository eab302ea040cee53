// ImageLoader: see ImageLoader.h.
#include "image/ImageLoader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "image/Sha256.h"
#include "space/MonotonicClock.h"

namespace image {

namespace {

std::string fileSha256(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ImageError(path + ": cannot open: " + std::strerror(errno));
  Sha256 h;
  std::vector<unsigned char> buffer(size_t(4) << 20);
  for (;;) {
    ssize_t n = read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      close(fd);
      throw ImageError(path + ": cannot read: " + std::strerror(e));
    }
    if (n == 0) break;
    h.add(buffer.data(), size_t(n));
  }
  close(fd);
  return Sha256::hex(h.finish());
}

// Checks every segment's SHA-256 against the manifest, on as many threads as there are
// cores (up to four): hashing, not reading, bounds it (about 1.6 GB/s a core with the
// CPU's SHA instructions), and segments are independent. Throws for the first segment
// in manifest order that does not match or cannot be read, whichever thread found it.
void verifySegments(const std::string& directory, const std::vector<SegmentEntry>& segments) {
  std::vector<std::string> problems(segments.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < segments.size(); i = next++) {
      std::string path = directory + "/" + segments[i].file;
      try {
        if (fileSha256(path) != segments[i].sha256) {
          problems[i] = path + ": SHA-256 does not match the manifest (the segment was changed or damaged)";
        }
      } catch (const std::exception& e) {  // unreadable, or no memory for the buffer
        problems[i] = e.what();
      }
    }
  };
  size_t threads = std::min<size_t>({std::max(1u, std::thread::hardware_concurrency()), 4, segments.size()});
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < threads; t++) helpers.emplace_back(work);
  work();
  for (std::thread& t : helpers) t.join();
  for (const std::string& p : problems) {
    if (!p.empty()) throw ImageError(p);
  }
}

// The default for a segment that fails its check on first touch: the process cannot go
// on, and the problem is the image's, as for an image refused before it starts. write(2),
// not stdio: the thread that touched the segment may hold stderr's lock while it waits.
void exitOnBadSegment(const std::string& problem) {
  std::string line = "espell: the image cannot be used: " + problem + "\n";
  for (size_t done = 0; done < line.size();) {
    ssize_t n = write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n <= 0 && errno != EINTR) break;
    if (n > 0) done += size_t(n);
  }
  _exit(kBadImageExitStatus);
}

}  // namespace

Manifest readImage(const std::string& directory, const LoadOptions& options, LoadReport& report) {
  struct stat st {};
  if (stat(directory.c_str(), &st) != 0) throw ImageError(directory + ": no such image directory");
  if (!S_ISDIR(st.st_mode)) throw ImageError(directory + ": not a directory (an image is a directory)");
  std::string manifestPath = directory + "/" + kManifestFile;
  std::ifstream in(manifestPath, std::ios::binary);
  if (!in) {
    throw ImageError(manifestPath + ": missing (not an image, or one whose writing did not finish)");
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > (size_t(64) << 20)) throw ImageError(manifestPath + ": larger than 64 MiB");
  Manifest m = fromJson(text.str(), manifestPath);
  for (size_t i = 0; i < m.segments.size(); i++) {
    const SegmentEntry& e = m.segments[i];
    std::string path = directory + "/" + e.file;
    struct stat fs {};
    if (stat(path.c_str(), &fs) != 0 || !S_ISREG(fs.st_mode)) {
      throw ImageError(path + ": segment file missing (segments[" + std::to_string(i) + "])");
    }
    if (uint64_t(fs.st_size) != e.bytes) {
      throw ImageError(path + ": " + std::to_string(fs.st_size) + " bytes, the manifest records " +
                       std::to_string(e.bytes) + " (truncated or replaced)");
    }
  }
  report.verification = options.verification;
  if (options.verification == Verification::First) {
    int64_t start = space::monotonicMicros();
    verifySegments(directory, m.segments);
    report.verifyMicros = space::monotonicMicros() - start;
  }
  return m;
}

space::SpaceConfig spaceConfigFor(const Manifest& m, space::SpaceConfig c) {
  c.reservationBytes = m.spaceState.reservationBytes;
  c.preferredBase = m.spaceState.reservationBase;
  c.edenBytes = m.edenBytes;
  c.minEdenBytes = m.minEdenBytes;
  c.survivorBytes = m.survivorBytes;
  c.maxOldBytes = std::max<size_t>(c.maxOldBytes, m.maxOldBytes);
  return c;
}

intptr_t ImageMappings::place(const std::string& directory, const Manifest& m, space::Space& space,
                              const LoadOptions& options, LoadReport& report) {
  namespace bip = boost::interprocess;
  const space::SpaceImageState& s = m.spaceState;
  if (space.reservation().size() != s.reservationBytes) {
    throw ImageError("the space's reservation does not have the image's size");
  }
  intptr_t delta = intptr_t(space.reservation().base()) - intptr_t(s.reservationBase);
  if (delta != 0 && options.verification == Verification::FirstTouch) {
    int64_t start = space::monotonicMicros();
    verifySegments(directory, m.segments);
    report.verifyMicros = space::monotonicMicros() - start;
    report.verification = Verification::First;
  }
  int64_t start = space::monotonicMicros();
  // Each old segment is committed whole (its bump area beyond the file reads as zeros),
  // then its file is mapped over the part that holds objects.
  for (const space::Segment& g : s.oldSpace.segments) {
    space.reservation().commit(uintptr_t(intptr_t(g.start) + delta), g.end - g.start);
  }
  for (const SegmentEntry& e : m.segments) {
    std::string path = directory + "/" + e.file;
    void* at = reinterpret_cast<void*>(space.reservation().base() + e.offset);
    try {
      bip::file_mapping file(path.c_str(), bip::read_only);
      regions_.push_back(std::make_unique<bip::mapped_region>(file, bip::copy_on_write, 0, e.bytes, at, MAP_FIXED));
    } catch (const bip::interprocess_exception& x) {
      throw ImageError(path + ": cannot map: " + x.what());
    }
    report.bytesMapped += e.bytes;
  }
  if (delta == 0 && options.verification == Verification::FirstTouch) {
    std::vector<FirstTouchVerification::Segment> segments;
    for (const SegmentEntry& e : m.segments) {
      segments.push_back({space.reservation().base() + e.offset, e.bytes, directory + "/" + e.file, e.sha256});
    }
    try {
      firstTouch_ = std::make_unique<FirstTouchVerification>(
          std::move(segments), options.onBadSegment ? options.onBadSegment : exitOnBadSegment, options.onChecked);
    } catch (const std::runtime_error& e) {
      throw ImageError(e.what());
    }
  }
  report.mapMicros = space::monotonicMicros() - start;
  start = space::monotonicMicros();
  report.objectsRelocated = space::SpaceImage::adopt(space, s, delta);
  report.relocated = delta != 0;
  if (delta != 0) report.relocateMicros = space::monotonicMicros() - start;
  return delta;
}

}  // namespace image
