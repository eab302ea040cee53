// ImageList: see ImageList.h.
#include "hypervisor/ImageList.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "image/ImageManifest.h"

namespace hypervisor {

namespace fs = std::filesystem;

namespace {

// A manifest is a few kilobytes; a "manifest.json" far beyond that is not one, and
// reading it whole would hold the host loop.
constexpr std::uintmax_t kMaxManifestBytes = 16 << 20;

}  // namespace

nlohmann::json describeImage(const std::string& directory) {
  fs::path dir(directory);
  nlohmann::json entry = {{"name", dir.filename().string()}, {"directory", directory}};
  fs::path manifest = dir / image::kManifestFile;
  std::error_code ec;
  if (!fs::exists(manifest, ec)) {
    entry["manifest"] = "missing";
    entry["error"] = ec ? "cannot look for manifest.json: " + ec.message() : "no manifest.json";
    return entry;
  }
  std::uintmax_t size = fs::file_size(manifest, ec);
  if (ec || size > kMaxManifestBytes) {
    entry["manifest"] = "unreadable";
    entry["error"] = ec ? "manifest.json: " + ec.message() : "manifest.json is larger than 16 MiB";
    return entry;
  }
  std::ifstream in(manifest, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) {
    entry["manifest"] = "unreadable";
    entry["error"] = "manifest.json cannot be read";
    return entry;
  }
  try {
    image::Manifest m = image::fromJson(text.str(), image::kManifestFile);
    uint64_t total = 0;
    for (const image::SegmentEntry& s : m.segments) total += s.bytes;
    entry["manifest"] = "ok";
    entry["formatVersion"] = m.formatVersion;
    entry["espellVersion"] = m.espellVersion;
    entry["space"] = m.space;
    entry["takenAt"] = m.takenAt;
    entry["mode"] = m.mode;
    entry["segments"] = m.segments.size();
    entry["totalBytes"] = total;
  } catch (const std::exception& e) {  // image::ImageError names the field
    entry["manifest"] = "unreadable";
    entry["error"] = e.what();
  }
  return entry;
}

nlohmann::json listImages(const std::string& directory, ImageListing which) {
  nlohmann::json answer = {{"directory", directory}, {"images", nlohmann::json::array()}, {"more", false}};
  std::error_code ec;
  std::vector<std::string> names;
  fs::directory_iterator it(directory, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    // Hidden entries include a snapshot's partial directory, not yet an image.
    if (name.empty() || name[0] == '.') continue;
    std::error_code kind;
    if (!it->is_directory(kind)) continue;
    if (which == ImageListing::ImagesOnly && !fs::exists(it->path() / image::kManifestFile, kind)) continue;
    names.push_back(name);
  }
  if (ec) {
    answer["error"] = "cannot list " + directory + ": " + ec.message();
    return answer;
  }
  std::sort(names.begin(), names.end());
  if (names.size() > kMaxImagesListed) {
    names.resize(kMaxImagesListed);
    answer["more"] = true;
  }
  for (const std::string& name : names)
    answer["images"].push_back(describeImage((fs::path(directory) / name).string()));
  return answer;
}

}  // namespace hypervisor
