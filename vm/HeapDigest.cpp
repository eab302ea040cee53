// HeapDigest: see HeapDigest.h.
#include "vm/HeapDigest.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <stdexcept>
#include <unordered_map>

#include "vm/IoPoller.h"
#include "vm/ObjectLayouts.h"
#include "vm/Runtime.h"
#include "vm/Scheduler.h"

namespace vm {

namespace {

// SHA-256 over the walk's canonical encoding.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) throw std::runtime_error("SHA-256 unavailable");
  }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  void add(const void* data, size_t n) { EVP_DigestUpdate(ctx_, data, n); }
  void add(uint64_t v) { add(&v, sizeof v); }
  std::string hex() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_, out, &n);
    std::string s;
    char buf[3];
    for (unsigned i = 0; i < n; i++) {
      std::snprintf(buf, sizeof buf, "%02x", out[i]);
      s += buf;
    }
    return s;
  }

 private:
  EVP_MD_CTX* ctx_;
};

// The breadth-first walk: numbers objects in the order it first reaches them.
class Walk {
 public:
  Walk(Runtime& rt) : rt_(rt) {}

  // A value as the digest sees it: an immediate by its bits (tag 0 is never an object
  // pointer for them), an object by its walk number (queued on first sight).
  uint64_t name(Oop o) {
    if (o.isNull()) return 0;
    if (!o.isHeapObject()) return o.bits();
    o = space::Space::follow(o);
    auto [it, added] = numbers_.try_emplace(o.bits(), numbers_.size() + 1);
    if (added) queue_.push_back(o);
    return (uint64_t(it->second) << 3) | 4;  // never a valid immediate's bits
  }

  void run(Sha256& h, HeapDigest& d) {
    while (!queue_.empty()) {
      Oop o = queue_.front();
      queue_.pop_front();
      describe(o, h, d);
    }
  }

 private:
  void describe(Oop o, Sha256& h, HeapDigest& d) {
    space::HeapObject* obj = o.object();
    space::Format f = space::formatWithoutCacheBits(obj->format());
    size_t n = obj->slotCount();
    d.objects++;
    d.bytes += obj->totalBytes();
    h.add(name(rt_.classAt(obj->classIndex())));
    h.add(uint64_t(f));
    h.add(uint64_t(n));
    h.add(uint64_t(obj->rawHash()));
    if (space::formatHasPointers(f)) {
      size_t live = n;
      if (f == space::Format::Stack) live = std::min(n, size_t(obj->slot(stack_slot::kTop).smallInteger()) + 1);
      for (size_t i = 0; i < live; i++) h.add(name(obj->slot(i)));
    } else if (space::formatIsBytes(f)) {
      h.add(obj->bytes(), obj->byteLength());
    } else {
      h.add(obj->words(), n * 8);
    }
  }

  Runtime& rt_;
  std::unordered_map<uint64_t, uint64_t> numbers_;
  std::deque<Oop> queue_;
};

}  // namespace

HeapDigest digestOf(Runtime& rt, TimerDeadlines deadlines) {
  if (rt.scheduler().activeProcess() != rt.nil()) throw std::logic_error("a digest of a running space");
  HeapDigest d;
  Sha256 h;
  Walk walk(rt);
  // The roots, in a canonical order: the special objects array, then the C++ tables
  // that hold guest objects (timers by deadline and id, I/O waiters by descriptor).
  h.add(walk.name(rt.space().specialObjectsArray()));
  for (const auto& [deadline, id, semaphore] : rt.scheduler().timers().timers) {
    if (deadlines == TimerDeadlines::Included) h.add(uint64_t(deadline));
    h.add(uint64_t(id));
    h.add(walk.name(semaphore));
  }
  std::vector<IoPoller::WatchState> watches = rt.scheduler().io().watches();
  std::sort(watches.begin(), watches.end(), [](const auto& a, const auto& b) { return a.fd < b.fd; });
  for (const IoPoller::WatchState& w : watches) {
    h.add(uint64_t(w.fd));
    h.add(walk.name(w.readable));
    h.add(walk.name(w.writable));
  }
  walk.run(h, d);
  d.sha256 = h.hex();
  return d;
}

}  // namespace vm
