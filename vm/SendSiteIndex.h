// SendSiteIndex: the send-site arrays of a space's code by the selectors they send, so
// that a method change clears the inline caches of the sites that send its selector
// without visiting every method of the space. That walk was an update's largest cost in
// its pause (0.25-0.45 ms for the hub's kernel and libraries under load); with the index,
// a change costs in proportion to the sites that send what it changed.
//
// Invariant, while valid(): every send-site array of code made since the index was built
// (ClassBuilder registers each array it makes) and of every method installed or retired
// when it was built, or installed since, is listed under each selector it sends. Arrays
// are old objects that never move; a full collection drops the dead ones (WeakTable). An
// identity swap (a selector or an array may change identity) and a rollback (arrays made
// since the checkpoint are gone) make the index invalid; it is built again outside update
// pauses (ClassBuilder::prepareForUpdate), and while invalid, invalidation walks every
// method as before.
#pragma once

#include <cstdint>
#include <functional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "space/Oop.h"
#include "space/WeakTable.h"

namespace vm {

class SendSiteIndex final : public space::WeakTable {
 public:
  bool valid() const { return valid_; }
  // Forgets everything (in constant time); add() does nothing until startBuilding().
  void invalidate();
  // Empties the index and makes it valid: the caller adds every array it must hold.
  void startBuilding();
  // Lists `sites` (a send-site array, in old space) under each selector it sends, once.
  // Does nothing while invalid.
  void add(space::Oop sites);
  // f(Oop sites) for each array that sends `selector`.
  template <class F>
  void forEachArraySending(space::Oop selector, F&& f) const {
    auto it = bySelector_.find(selector.bits());
    if (it == bySelector_.end()) return;
    for (space::Oop sites : it->second) f(sites);
  }
  size_t arrays() const { return arrays_.size(); }

  void dropDead(const std::function<bool(space::Oop)>& alive) override;

 private:
  bool valid_ = false;
  std::unordered_map<uint64_t, std::vector<space::Oop>> bySelector_;  // selector bits -> arrays
  std::unordered_set<uint64_t> arrays_;                               // the arrays listed (bits)
  // What invalidate() took out, never read: freeing thousands of nodes cost 30-150 us,
  // and invalidate() runs in pauses (a rollback, an identity swap). The next
  // startBuilding(), outside pauses, frees it.
  std::unordered_map<uint64_t, std::vector<space::Oop>> discardedBySelector_;
  std::unordered_set<uint64_t> discardedArrays_;
};

}  // namespace vm
