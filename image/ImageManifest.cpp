// ImageManifest: see ImageManifest.h.
#include "image/ImageManifest.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "image/Sha256.h"
#include "space/Reservation.h"

namespace image {

using json = nlohmann::json;
using space::Oop;

namespace {

constexpr uint64_t kPage = space::Reservation::kPageSize;

json oopJson(Oop o) {
  return o.bits();
}

json spaceJson(const space::SpaceImageState& s) {
  const space::OldSpace::State& o = s.oldSpace;
  json segments = json::array();
  for (const space::Segment& g : o.segments) segments.push_back({g.start, g.end, g.top});
  json released = json::array();
  for (const auto& [start, size] : o.releasedRanges) released.push_back({start, size});
  json stacks = json::array();
  for (Oop st : s.stacks) stacks.push_back(oopJson(st));
  json remembered = json::array();
  for (Oop o : s.remembered) remembered.push_back(oopJson(o));
  const space::Nursery::State& n = s.nursery;
  return {
      {"reservationBase", s.reservationBase},
      {"reservationBytes", s.reservationBytes},
      {"nursery",
       {{"edenStart", n.edenStart},
        {"edenTop", n.edenTop},
        {"edenEnd", n.edenEnd},
        {"fromSurvivor", n.fromIndex},
        {"survivorStart", n.survivorStart},
        {"survivorTop", n.survivorTop}}},
      {"remembered", remembered},
      {"specialObjects", oopJson(s.specialObjects)},
      {"hashSeed", s.hashSeed},
      {"nextFreeClassIndex", s.nextFreeClassIndex},
      {"arrayClassIndex", s.arrayClassIndex},
      {"symbolClassIndex", s.symbolClassIndex},
      {"stacks", stacks},
      {"oldSpace",
       {{"nextAddress", o.nextAddress},
        {"releasedRanges", released},
        {"segments", segments},
        {"lowest", o.lowest},
        {"highest", o.highest},
        {"bumpSegment", o.bumpSegment == SIZE_MAX ? json(-1) : json(o.bumpSegment)},
        {"bumpTop", o.bumpTop},
        {"bumpEnd", o.bumpEnd},
        {"exactLists", o.exactLists},
        {"largeList", o.largeList},
        {"maxBytes", o.maxBytes},
        {"committedBytes", o.committedBytes},
        {"liveBytes", o.liveBytes},
        {"allocatedSinceSweep", o.allocatedSinceSweep},
        {"freeBytes", o.freeBytes}}},
  };
}

json runtimeJson(const vm::RuntimeImageState& r) {
  json timers = json::array();
  for (const auto& [left, id, sem] : r.timers) timers.push_back({left, id, oopJson(sem)});
  json waiters = json::array();
  for (Oop o : r.ioWaiters) waiters.push_back(oopJson(o));
  json retired = json::array();
  for (Oop o : r.retiredCode) retired.push_back(oopJson(o));
  return {{"mainProcess", oopJson(r.mainProcess)},
          {"programMainProcess", oopJson(r.programMainProcess)},
          {"timers", timers},
          {"nextTimerId", r.nextTimerId},
          {"ioWaiters", waiters},
          {"retiredCode", retired},
          {"programMicros", r.programMicros},
          {"descriptorEpoch", r.descriptorEpoch},
          {"classPath", r.classPath},
          {"primitivesFingerprint", r.primitivesFingerprint}};
}

json body(const Manifest& m) {
  json segments = json::array();
  for (const SegmentEntry& s : m.segments) {
    segments.push_back({{"file", s.file}, {"offset", s.offset}, {"bytes", s.bytes}, {"sha256", s.sha256}});
  }
  return {{"formatVersion", m.formatVersion},
          {"espellVersion", m.espellVersion},
          {"wordSize", m.wordSize},
          {"byteOrder", m.byteOrder},
          {"space", m.space},
          {"takenAt", m.takenAt},
          {"mode", m.mode},
          {"layout",
           {{"edenBytes", m.edenBytes},
            {"minEdenBytes", m.minEdenBytes},
            {"survivorBytes", m.survivorBytes},
            {"maxOldBytes", m.maxOldBytes}}},
          {"segments", segments},
          {"spaceState", spaceJson(m.spaceState)},
          {"runtimeState", runtimeJson(m.runtimeState)}};
}

// Reading with the path of each field in errors ("manifest.json: spaceState.stacks[3]: ...").
class Reader {
 public:
  explicit Reader(std::string where) : where_(std::move(where)) {}
  [[noreturn]] void fail(const std::string& path, const std::string& what) const {
    throw ImageError(where_ + ": " + (path.empty() ? "" : path + ": ") + what);
  }
  const json& field(const json& obj, const std::string& path, const char* name) const {
    if (!obj.is_object()) fail(path, "expected an object");
    auto it = obj.find(name);
    if (it == obj.end()) fail(path, std::string("missing field '") + name + "'");
    return *it;
  }
  uint64_t u64(const json& v, const std::string& path) const {
    if (!v.is_number_unsigned()) fail(path, "expected a non-negative integer");
    return v.get<uint64_t>();
  }
  int64_t i64(const json& v, const std::string& path) const {
    if (!v.is_number_integer()) fail(path, "expected an integer");
    return v.get<int64_t>();
  }
  std::string str(const json& v, const std::string& path) const {
    if (!v.is_string()) fail(path, "expected a string");
    return v.get<std::string>();
  }
  const json& array(const json& v, const std::string& path) const {
    if (!v.is_array()) fail(path, "expected an array");
    return v;
  }
  uint64_t u64(const json& obj, const std::string& path, const char* name) const {
    return u64(field(obj, path, name), join(path, name));
  }
  static std::string join(const std::string& path, const char* name) { return path.empty() ? name : path + "." + name; }
  static std::string at(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

 private:
  std::string where_;
};

}  // namespace

std::string espellVersion() {
#ifdef ESPELL_VERSION
  return ESPELL_VERSION;
#else
  return "unknown";
#endif
}

std::string sha256Hex(const void* data, size_t n) {
  Sha256 h;
  h.add(data, n);
  return Sha256::hex(h.finish());
}

std::vector<space::MemoryRange> segmentFiles(const space::SpaceImageState& state) {
  std::vector<space::MemoryRange> files;
  for (const space::MemoryRange& r : space::SpaceImage::pages(state)) {
    for (uintptr_t at = r.start; at < r.end; at += std::min<uint64_t>(kSegmentFileBytes, r.end - at)) {
      files.push_back({at, at + std::min<uint64_t>(kSegmentFileBytes, r.end - at)});
    }
  }
  return files;
}

std::string toJson(const Manifest& m) {
  json j = body(m);
  std::string canonical = j.dump();
  j["checksum"] = sha256Hex(canonical.data(), canonical.size());
  return j.dump(1) + "\n";
}

Manifest fromJson(const std::string& text, const std::string& where) {
  Reader r(where);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {  // a syntax error, or a number out of range
    r.fail("", std::string("not valid JSON (") + e.what() + ")");
  }
  if (!j.is_object()) r.fail("", "expected a JSON object");
  // Integrity first: a manifest changed after it was written is refused whole.
  std::string checksum = r.str(r.field(j, "", "checksum"), "checksum");
  json rest = j;
  rest.erase("checksum");
  std::string canonical = rest.dump();
  if (sha256Hex(canonical.data(), canonical.size()) != checksum) {
    r.fail("checksum", "does not match the manifest's contents (the manifest was changed or damaged)");
  }

  Manifest m;
  m.formatVersion = int(r.i64(r.field(j, "", "formatVersion"), "formatVersion"));
  if (m.formatVersion != kFormatVersion) {
    r.fail("formatVersion", "image format " + std::to_string(m.formatVersion) + "; this Espell reads format " +
                                std::to_string(kFormatVersion));
  }
  m.wordSize = int(r.i64(r.field(j, "", "wordSize"), "wordSize"));
  if (m.wordSize != 8) r.fail("wordSize", "a " + std::to_string(m.wordSize) + "-byte word image; this Espell uses 8");
  m.byteOrder = r.str(r.field(j, "", "byteOrder"), "byteOrder");
  if (m.byteOrder != "little") r.fail("byteOrder", "a " + m.byteOrder + "-endian image; this Espell is little-endian");
  m.espellVersion = r.str(r.field(j, "", "espellVersion"), "espellVersion");
  if (m.espellVersion != espellVersion()) {
    r.fail("espellVersion", "made by Espell " + m.espellVersion + "; this is Espell " + espellVersion());
  }
  m.space = r.str(r.field(j, "", "space"), "space");
  m.takenAt = r.str(r.field(j, "", "takenAt"), "takenAt");
  m.mode = r.str(r.field(j, "", "mode"), "mode");

  const json& layout = r.field(j, "", "layout");
  m.edenBytes = r.u64(layout, "layout", "edenBytes");
  m.minEdenBytes = r.u64(layout, "layout", "minEdenBytes");
  m.survivorBytes = r.u64(layout, "layout", "survivorBytes");
  m.maxOldBytes = r.u64(layout, "layout", "maxOldBytes");

  // Space state.
  const json& ss = r.field(j, "", "spaceState");
  space::SpaceImageState& s = m.spaceState;
  s.reservationBase = r.u64(ss, "spaceState", "reservationBase");
  s.reservationBytes = r.u64(ss, "spaceState", "reservationBytes");
  if (s.reservationBase % kPage || s.reservationBytes % kPage || s.reservationBytes == 0 ||
      s.reservationBytes > (uint64_t(1) << 44) || s.reservationBase + s.reservationBytes < s.reservationBase ||
      s.reservationBase + s.reservationBytes > (uint64_t(1) << 47)) {
    r.fail("spaceState.reservationBase", "not a page-aligned range of user address space");
  }
  if (m.edenBytes + 2 * m.survivorBytes >= s.reservationBytes || m.edenBytes == 0 || m.survivorBytes == 0 ||
      m.minEdenBytes > m.edenBytes) {
    r.fail("layout", "the nursery does not fit the reservation");
  }
  uint64_t base = s.reservationBase, end = s.reservationBase + s.reservationBytes;

  // The nursery: where the layout puts it (space/Nursery.h), tops inside their regions.
  const json& nj = r.field(ss, "spaceState", "nursery");
  const std::string np = "spaceState.nursery";
  space::Nursery::State& n = s.nursery;
  // Rounded as the Nursery constructor rounds them.
  uint64_t edenCapacity = space::Reservation::roundUpToPage(m.edenBytes);
  uint64_t survivorBytes = space::Reservation::roundUpToPage(m.survivorBytes);
  n.edenStart = r.u64(nj, np, "edenStart");
  n.edenTop = r.u64(nj, np, "edenTop");
  n.edenEnd = r.u64(nj, np, "edenEnd");
  uint64_t from = r.u64(nj, np, "fromSurvivor");
  if (from > 1) r.fail(np + ".fromSurvivor", "expected 0 or 1");
  n.fromIndex = int(from);
  n.survivorStart = r.u64(nj, np, "survivorStart");
  n.survivorTop = r.u64(nj, np, "survivorTop");
  if (n.edenStart != base) r.fail(np + ".edenStart", "eden does not start the reservation");
  if (n.edenEnd % kPage || n.edenEnd <= n.edenStart || n.edenEnd > base + edenCapacity) {
    r.fail(np + ".edenEnd", "not a page-aligned end inside eden's reserved size");
  }
  if (n.edenTop < n.edenStart || n.edenTop > n.edenEnd || n.edenTop % 8) {
    r.fail(np + ".edenTop", "not inside eden");
  }
  if (n.survivorStart != base + edenCapacity + from * survivorBytes) {
    r.fail(np + ".survivorStart", "not where the layout puts survivor space " + std::to_string(from));
  }
  if (n.survivorTop < n.survivorStart || n.survivorTop > n.survivorStart + survivorBytes || n.survivorTop % 8) {
    r.fail(np + ".survivorTop", "not inside the survivor space");
  }

  // Segments: page aligned, inside the reservation, in order, not overlapping.
  const json& segs = r.array(r.field(j, "", "segments"), "segments");
  uint64_t previousEnd = 0;
  for (size_t i = 0; i < segs.size(); i++) {
    std::string p = Reader::at("segments", i);
    SegmentEntry e;
    e.file = r.str(r.field(segs[i], p, "file"), p + ".file");
    if (e.file.empty() || e.file.find('/') != std::string::npos || e.file[0] == '.') {
      r.fail(p + ".file", "not a plain file name: '" + e.file + "'");
    }
    e.offset = r.u64(segs[i], p, "offset");
    e.bytes = r.u64(segs[i], p, "bytes");
    e.sha256 = r.str(r.field(segs[i], p, "sha256"), p + ".sha256");
    if (e.sha256.size() != 64) r.fail(p + ".sha256", "not a SHA-256 in hex");
    if (e.offset % kPage || e.bytes % kPage || e.bytes == 0 || e.offset >= s.reservationBytes ||
        e.bytes > s.reservationBytes - e.offset) {
      r.fail(p, "not a page-aligned range inside the reservation");
    }
    if (e.offset < previousEnd) r.fail(p, "overlaps the segment before it");
    previousEnd = e.offset + e.bytes;
    m.segments.push_back(e);
  }
  auto inSegment = [&](uint64_t a) {
    for (const SegmentEntry& e : m.segments) {
      if (a >= base + e.offset && a < base + e.offset + e.bytes) return true;
    }
    return false;
  };
  auto readOop = [&](const json& v, const std::string& p, bool nilAllowed) {
    uint64_t bits = r.u64(v, p);
    Oop o = Oop::fromObject(reinterpret_cast<const void*>(bits));
    if (bits == 0 && nilAllowed) return o;
    if (bits % 8 || !inSegment(bits)) r.fail(p, "not a reference to an object of the image's segments");
    return o;
  };
  auto readAddress = [&](const json& obj, const std::string& path, const char* name, bool zeroAllowed) {
    uint64_t a = r.u64(obj, path, name);
    if ((a == 0 && zeroAllowed) || (a >= base && a <= end)) return uintptr_t(a);
    r.fail(Reader::join(path, name), "an address outside the reservation");
  };

  s.specialObjects = readOop(r.field(ss, "spaceState", "specialObjects"), "spaceState.specialObjects", false);
  s.hashSeed = uint32_t(r.u64(ss, "spaceState", "hashSeed"));
  s.nextFreeClassIndex = space::ClassIndex(r.u64(ss, "spaceState", "nextFreeClassIndex"));
  s.arrayClassIndex = space::ClassIndex(r.u64(ss, "spaceState", "arrayClassIndex"));
  s.symbolClassIndex = space::ClassIndex(r.u64(ss, "spaceState", "symbolClassIndex"));
  const json& stacks = r.array(r.field(ss, "spaceState", "stacks"), "spaceState.stacks");
  for (size_t i = 0; i < stacks.size(); i++)
    s.stacks.push_back(readOop(stacks[i], Reader::at("spaceState.stacks", i), false));
  const json& remembered = r.array(r.field(ss, "spaceState", "remembered"), "spaceState.remembered");
  for (size_t i = 0; i < remembered.size(); i++) {
    std::string p = Reader::at("spaceState.remembered", i);
    Oop o = readOop(remembered[i], p, false);
    if (o.address() < base + edenCapacity + 2 * survivorBytes) r.fail(p, "a young object (expected an old one)");
    s.remembered.push_back(o);
  }

  const json& os = r.field(ss, "spaceState", "oldSpace");
  const std::string op = "spaceState.oldSpace";
  space::OldSpace::State& o = s.oldSpace;
  o.nextAddress = readAddress(os, op, "nextAddress", false);
  const json& released = r.array(r.field(os, op, "releasedRanges"), op + ".releasedRanges");
  for (size_t i = 0; i < released.size(); i++) {
    std::string p = Reader::at(op + ".releasedRanges", i);
    const json& pair = r.array(released[i], p);
    if (pair.size() != 2) r.fail(p, "expected [start, size]");
    uint64_t a = r.u64(pair[0], p), n = r.u64(pair[1], p);
    if (a < base || a > end || n > end - a) r.fail(p, "a range outside the reservation");
    o.releasedRanges.push_back({uintptr_t(a), size_t(n)});
  }
  const json& osegs = r.array(r.field(os, op, "segments"), op + ".segments");
  for (size_t i = 0; i < osegs.size(); i++) {
    std::string p = Reader::at(op + ".segments", i);
    const json& t = r.array(osegs[i], p);
    if (t.size() != 3) r.fail(p, "expected [start, end, top]");
    space::Segment g;
    g.start = r.u64(t[0], p);
    g.end = r.u64(t[1], p);
    g.top = r.u64(t[2], p);
    if (g.start < base || g.end > end || g.start >= g.end || g.top < g.start || g.top > g.end || g.start % kPage ||
        g.end % kPage) {
      r.fail(p, "not a segment inside the reservation");
    }
    if (!o.segments.empty() && g.start < o.segments.back().end) r.fail(p, "segments out of order or overlapping");
    o.segments.push_back(g);
  }
  o.lowest = readAddress(os, op, "lowest", true);
  o.highest = readAddress(os, op, "highest", true);
  int64_t bump = r.i64(r.field(os, op, "bumpSegment"), op + ".bumpSegment");
  if (bump < -1 || bump >= int64_t(o.segments.size())) r.fail(op + ".bumpSegment", "no such segment");
  o.bumpSegment = bump < 0 ? SIZE_MAX : size_t(bump);
  o.bumpTop = readAddress(os, op, "bumpTop", true);
  o.bumpEnd = readAddress(os, op, "bumpEnd", true);
  if (bump >= 0) {
    const space::Segment& g = o.segments[size_t(bump)];
    if (o.bumpTop < g.start || o.bumpTop > o.bumpEnd || o.bumpEnd > g.end) {
      r.fail(op + ".bumpTop", "the bump area is not inside its segment");
    }
  }
  const json& lists = r.array(r.field(os, op, "exactLists"), op + ".exactLists");
  if (lists.size() != o.exactLists.size())
    r.fail(op + ".exactLists", "expected " + std::to_string(o.exactLists.size()) + " list heads");
  for (size_t i = 0; i < lists.size(); i++) {
    uint64_t a = r.u64(lists[i], Reader::at(op + ".exactLists", i));
    if (a != 0 && (a % 8 || !inSegment(a)))
      r.fail(Reader::at(op + ".exactLists", i), "a free chunk outside the segments");
    o.exactLists[i] = a;
  }
  o.largeList = r.u64(os, op, "largeList");
  if (o.largeList != 0 && (o.largeList % 8 || !inSegment(o.largeList)))
    r.fail(op + ".largeList", "a free chunk outside the segments");
  o.maxBytes = r.u64(os, op, "maxBytes");
  o.committedBytes = r.u64(os, op, "committedBytes");
  o.liveBytes = r.u64(os, op, "liveBytes");
  o.allocatedSinceSweep = r.u64(os, op, "allocatedSinceSweep");
  o.freeBytes = r.u64(os, op, "freeBytes");
  // The files tile the regions holding objects as the writer cuts them (segmentFiles).
  std::vector<space::MemoryRange> expected = segmentFiles(s);
  if (expected.size() != m.segments.size()) {
    r.fail("segments", std::to_string(m.segments.size()) + " files for " + std::to_string(expected.size()) +
                           " pieces of the regions holding objects");
  }
  for (size_t i = 0; i < expected.size(); i++) {
    if (expected[i].start != base + m.segments[i].offset ||
        expected[i].end - expected[i].start != m.segments[i].bytes) {
      r.fail(Reader::at("segments", i), "does not match the piece of a region holding objects at " +
                                            std::to_string(expected[i].start - base) + " in the reservation");
    }
  }

  // Runtime state.
  const json& rs = r.field(j, "", "runtimeState");
  const std::string rp = "runtimeState";
  vm::RuntimeImageState& rt = m.runtimeState;
  rt.mainProcess = readOop(r.field(rs, rp, "mainProcess"), rp + ".mainProcess", false);
  rt.programMainProcess = readOop(r.field(rs, rp, "programMainProcess"), rp + ".programMainProcess", false);
  const json& timers = r.array(r.field(rs, rp, "timers"), rp + ".timers");
  for (size_t i = 0; i < timers.size(); i++) {
    std::string p = Reader::at(rp + ".timers", i);
    const json& t = r.array(timers[i], p);
    if (t.size() != 3) r.fail(p, "expected [microseconds left, id, semaphore]");
    rt.timers.emplace_back(r.i64(t[0], p), r.i64(t[1], p), readOop(t[2], p, false));
  }
  rt.nextTimerId = r.i64(r.field(rs, rp, "nextTimerId"), rp + ".nextTimerId");
  const json& waiters = r.array(r.field(rs, rp, "ioWaiters"), rp + ".ioWaiters");
  for (size_t i = 0; i < waiters.size(); i++)
    rt.ioWaiters.push_back(readOop(waiters[i], Reader::at(rp + ".ioWaiters", i), false));
  const json& retired = r.array(r.field(rs, rp, "retiredCode"), rp + ".retiredCode");
  for (size_t i = 0; i < retired.size(); i++)
    rt.retiredCode.push_back(readOop(retired[i], Reader::at(rp + ".retiredCode", i), false));
  rt.programMicros = r.i64(r.field(rs, rp, "programMicros"), rp + ".programMicros");
  uint64_t epoch = r.u64(rs, rp, "descriptorEpoch");
  if (epoch == 0 || epoch >= (uint64_t(1) << 30)) r.fail(rp + ".descriptorEpoch", "not from 1 to 2^30-1");
  rt.descriptorEpoch = uint32_t(epoch);
  const json& cp = r.array(r.field(rs, rp, "classPath"), rp + ".classPath");
  for (size_t i = 0; i < cp.size(); i++) rt.classPath.push_back(r.str(cp[i], Reader::at(rp + ".classPath", i)));
  rt.primitivesFingerprint = r.str(r.field(rs, rp, "primitivesFingerprint"), rp + ".primitivesFingerprint");
  return m;
}

}  // namespace image
