// ImageList: the console's list of images on disk — a real image described from its
// manifest, a directory without one and one with a damaged one listed as such, hidden
// and plain entries skipped, a directory that cannot be read answered with an error.
#include "hypervisor/ImageList.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "hypervisor/Snapshots.h"
#include "tests/unit/hypervisor/GuestFixture.h"
#include "tests/unit/hypervisor/Workers.h"

using hypervisor::test::GuestFixture;
using hypervisor::test::kWorkers;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("espell-imagelist-" + std::to_string(::getpid()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

std::vector<std::string> names(const nlohmann::json& listing) {
  std::vector<std::string> out;
  for (const auto& e : listing["images"]) out.push_back(e["name"].get<std::string>());
  return out;
}

}  // namespace

TEST_CASE("the images in a directory: described from their manifests, or why not") {
  TempDir tmp;
  {
    GuestFixture g({{"Workers", kWorkers}});
    g.vm->startGuest("Workers", {});
    g.vm->runGuestFor(std::chrono::milliseconds(20));
    hypervisor::takeSnapshot(
        *g.vm, {(tmp.path / "image").string(), "guest", image::CaptureMode::Cow, std::chrono::seconds(5)});
    g.pause();
    g.vm->evaluateInGuest("system global: #Stop put: true");
    g.vm->resumeGuest();
    g.vm->finishGuest();
  }
  fs::create_directories(tmp.path / "empty");
  fs::create_directories(tmp.path / "damaged");
  std::ofstream(tmp.path / "damaged" / "manifest.json") << "{not json";
  fs::create_directories(tmp.path / ".partial");
  std::ofstream(tmp.path / "a-file") << "not a directory";

  nlohmann::json every = hypervisor::listImages(tmp.path.string(), hypervisor::ImageListing::EveryDirectory);
  CHECK(names(every) == std::vector<std::string>{"damaged", "empty", "image"});
  CHECK(every["more"] == false);
  CHECK_FALSE(every.contains("error"));
  const nlohmann::json& damaged = every["images"][0];
  CHECK(damaged["manifest"] == "unreadable");
  CHECK(damaged["error"].get<std::string>().find("not valid JSON") != std::string::npos);
  CHECK(every["images"][1]["manifest"] == "missing");
  const nlohmann::json& image = every["images"][2];
  CAPTURE(image.dump());
  CHECK(image["manifest"] == "ok");
  CHECK(image["space"] == "guest");
  CHECK(image["mode"] == "cow");
  CHECK(image["formatVersion"] == image::kFormatVersion);
  CHECK(image["totalBytes"].get<uint64_t>() > 0);
  CHECK_FALSE(image["takenAt"].get<std::string>().empty());

  // Any other directory: only the entries that hold a manifest.
  nlohmann::json only = hypervisor::listImages(tmp.path.string(), hypervisor::ImageListing::ImagesOnly);
  CHECK(names(only) == std::vector<std::string>{"damaged", "image"});

  nlohmann::json gone =
      hypervisor::listImages((tmp.path / "no-such").string(), hypervisor::ImageListing::EveryDirectory);
  CHECK(gone["images"].empty());
  CHECK(gone["error"].get<std::string>().find("cannot list") != std::string::npos);
}
