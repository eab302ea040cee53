// InstanceCensus: the instances of a few classes, found while the program runs, so that a
// pause that needs them (an update migrating every instance of a class) does not walk the
// whole heap. A heap walk reads every object's header: on this machine kind, 5 ms for a
// warm 96 MB old space and up to 140 ms when its pages went cold, most of a migration's
// pause. The census walks old space ahead, in steps between the program's slices
// (Space::censusStep); in the pause, Space::forEachInstanceOf answers from it, walking
// only what changed since.
//
// Invariant (complete): every object of a census class lies in one of
//  - found_: old objects the walk met below its cursor, watch_.below (checked again in
//    the pause: one may have been turned into a forwarder since),
//  - watch_.blocks: old blocks allocated below the cursor after the walk had passed there
//    (OldSpace's allocation watch),
//  - old space at or above the cursor (not walked yet: the pause walks the rest),
//  - the nursery (walked in the pause: it is small, and its objects are all new).
// Old objects neither move nor die between full collections. What breaks the invariant
// without an allocation — a full collection (frees found objects, coalesces blocks,
// releases segments), an identity swap or a class change in place, a rollback of the
// space — drops the census (Space::dropCensus), and the pause walks the whole heap as
// without one.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <utility>
#include <vector>

#include "space/ClassIndex.h"
#include "space/HeapObject.h"
#include "space/OldSpace.h"

namespace space {

class Nursery;

class InstanceCensus {
 public:
  InstanceCensus(OldSpace& old, std::vector<ClassIndex> classes);
  ~InstanceCensus();
  InstanceCensus(const InstanceCensus&) = delete;
  InstanceCensus& operator=(const InstanceCensus&) = delete;

  bool covers(ClassIndex c) const;
  // Walks old space on from the cursor for about `budget`; true once all of it is walked.
  bool step(std::chrono::microseconds budget);
  // Calls f for every object of class `c` (one the census covers) in old space and in
  // `young`: what the walk found, the blocks allocated behind it, the part of old space
  // not walked yet, then the nursery's objects. f must not allocate.
  void forEachInstance(ClassIndex c, Nursery& young, const std::function<void(HeapObject*)>& f);

  // The pages the objects found so far lie on: what a pause that writes each of them
  // (a migration's forwarders) has a checkpoint save (Space::prepareCheckpointCopies).
  size_t pagesFound() const;
  // The same pages as runs [start, end), in address order, counted as the walk finds
  // them: what a checkpoint armed for such a pause leaves unprotected
  // (Space::armCheckpoint).
  const std::vector<std::pair<uintptr_t, uintptr_t>>& pageRunsFound() const { return pageRuns_; }
  // How many objects of class `c` the walk found so far (0 for a class not covered): what
  // a migration of them makes new versions of (Space::prepareOldSpaceRoom).
  size_t foundOf(ClassIndex c) const;
  // What the census holds (tests).
  size_t foundCount() const { return found_.size(); }
  size_t blocksAllocatedBehind() const { return watch_.blocks.size(); }

 private:
  // step's walk, until `deadline`; true once all of old space is walked.
  bool walkUntil(std::chrono::steady_clock::time_point deadline);
  // Walks old space's blocks in [from, to) of one segment, calling f for objects of a
  // census class; answers where it stopped (`to`, or earlier when `deadline` passed).
  template <class F>
  uintptr_t walkBlocks(uintptr_t from, uintptr_t to, std::chrono::steady_clock::time_point deadline, F&& f);

  // Adds the pages of `o`, found above every object found before it, to pageRuns_.
  void countPages(const HeapObject* o);

  OldSpace& old_;
  std::vector<ClassIndex> classes_;
  // Old objects of the census classes below the cursor, in address order. A deque: it
  // grows by blocks, where a vector's doubling copied millions of them at once into
  // fresh memory (a step of 13 ms for a million, the guest waiting).
  std::deque<Oop> found_;
  std::vector<size_t> foundPerClass_;  // how many of found_ are of classes_[i], when found
  // See pageRunsFound: every page below the last run's end is counted.
  std::vector<std::pair<uintptr_t, uintptr_t>> pageRuns_;
  // The walk's cursor is watch_.below: a block start or a segment's end, everything below
  // it walked; kWalked once the whole of old space is.
  static constexpr uintptr_t kWalked = UINTPTR_MAX;
  OldSpace::AllocationWatch watch_;
};

}  // namespace space
