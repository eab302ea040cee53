// ImageLoader: see ImageLoader.h.
#include "image/ImageLoader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "image/Sha256.h"

namespace image {

namespace {

int64_t nowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

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
  if (options.verifyChecksums) {
    int64_t start = nowMicros();
    for (const SegmentEntry& e : m.segments) {
      std::string path = directory + "/" + e.file;
      if (fileSha256(path) != e.sha256) {
        throw ImageError(path + ": SHA-256 does not match the manifest (the segment was changed or damaged)");
      }
    }
    report.verifyMicros = nowMicros() - start;
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
                              LoadReport& report) {
  namespace bip = boost::interprocess;
  const space::SpaceImageState& s = m.spaceState;
  if (space.reservation().size() != s.reservationBytes) {
    throw ImageError("the space's reservation does not have the image's size");
  }
  intptr_t delta = intptr_t(space.reservation().base()) - intptr_t(s.reservationBase);
  int64_t start = nowMicros();
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
  report.mapMicros = nowMicros() - start;
  start = nowMicros();
  report.objectsRelocated = space::SpaceImage::adopt(space, s, delta);
  report.relocated = delta != 0;
  if (delta != 0) report.relocateMicros = nowMicros() - start;
  return delta;
}

}  // namespace image
