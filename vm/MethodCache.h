// MethodCache: the global lookup cache, (class index, selector) -> method, consulted when
// a send site's inline cache misses. Flushed per selector when methods change, and
// entirely after identity swaps and full collections.
#pragma once

#include <array>
#include <cstdint>

#include "space/ClassIndex.h"
#include "space/Oop.h"

namespace vm {

class MethodCache {
 public:
  static constexpr size_t kSize = 4096;

  space::Oop probe(space::ClassIndex cls, space::Oop selector) const {
    const Entry& e = entries_[index(cls, selector)];
    return (e.cls == cls && e.selector == selector.bits()) ? e.method : space::Oop();
  }
  void put(space::ClassIndex cls, space::Oop selector, space::Oop method) {
    entries_[index(cls, selector)] = Entry{selector.bits(), cls, method};
  }
  void flush() { entries_.fill(Entry{}); }
  void flushSelector(space::Oop selector) {
    for (Entry& e : entries_) {
      if (e.selector == selector.bits()) e = Entry{};
    }
  }

 private:
  struct Entry {
    uint64_t selector = 0;
    space::ClassIndex cls = 0;
    space::Oop method;
  };
  static size_t index(space::ClassIndex cls, space::Oop selector) {
    return size_t((selector.bits() >> 3) ^ (uint64_t(cls) * 0x9E3779B1u)) & (kSize - 1);
  }
  std::array<Entry, kSize> entries_{};
};

}  // namespace vm
