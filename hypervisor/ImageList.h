// ImageList: the images found on disk in a few directories, for the console's snapshots
// page (its host command "images"): each image directory with what its manifest.json
// says — format, when and from which space and how it was taken, its size — or why it
// cannot be read. Nothing here throws for what it finds on disk: a missing directory, a
// missing or damaged manifest, an unreadable file are entries that say so.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace hypervisor {

// Which subdirectories of a scanned directory are listed.
enum class ImageListing {
  EveryDirectory,  // a directory kept for images (--snapshot-dir): a subdirectory without a
                   // manifest is listed as such
  ImagesOnly,      // any directory (the parent of a snapshot): only subdirectories that
                   // hold a manifest.json, readable or not
};

// The most entries listed per directory (sorted by name; "more" says when there were more).
constexpr size_t kMaxImagesListed = 200;

// One image directory: {"name", "directory", "manifest": "ok" | "missing" | "unreadable",
// and "error" unless ok}; an ok one also has formatVersion, espellVersion, space, takenAt,
// mode and totalBytes (its segment files' sizes, as the manifest records them).
nlohmann::json describeImage(const std::string& directory);

// The image directories in `directory`: {"directory", "images": [...], "more": bool}, or
// with an "error" (and no images) when it cannot be read.
nlohmann::json listImages(const std::string& directory, ImageListing which);

}  // namespace hypervisor
