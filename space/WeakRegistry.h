// WeakRegistry: objects watched without being kept alive. When a collection finds one
// dead, its token is reported (after the collection) to the registered callback — e.g. a
// hypervisor mirror object dies and the guest handle it stood for is released.
//
// Invariant: an entry never refers to a forwarder (become follows entries eagerly), so
// after a scavenge a forwarded young entry was copied, and an unforwarded one died.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "space/Oop.h"

namespace space {

class WeakRegistry {
 public:
  using Token = uint64_t;
  using DeathCallback = std::function<void(std::span<const Token> died)>;

  struct Entry {
    Oop object;
    Token token;
  };

  void add(Oop object, Token token) { entries_.push_back({object, token}); }
  void setOnDeath(DeathCallback callback) { onDeath_ = std::move(callback); }
  size_t size() const { return entries_.size(); }

  // For the collectors and become: `survivor` maps an entry's object to where it lives
  // now, or to the null Oop when it died.
  template <class F>
  void sweep(F&& survivor) {
    size_t kept = 0;
    for (Entry& e : entries_) {
      Oop now = survivor(e.object);
      if (now.isNull()) {
        died_.push_back(e.token);
      } else {
        entries_[kept++] = {now, e.token};
      }
    }
    entries_.resize(kept);
  }
  // After a collection: tells the callback which tokens died.
  void reportDeaths() {
    if (died_.empty()) return;
    std::vector<Token> died;
    died.swap(died_);
    if (onDeath_) onDeath_(died);
  }

 private:
  friend class SpaceCheckpoint;
  std::vector<Entry> entries_;
  std::vector<Token> died_;
  DeathCallback onDeath_;
};

}  // namespace space
