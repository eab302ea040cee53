// SpaceCheckpoint: a point a space can be put back to exactly — its heap pages by
// copy-on-write (WriteTracker: only pages written after the checkpoint are copied) and
// the C++ state beside them (allocation pointers, free lists, segments, the remembered
// set, the class and symbol tables' caches, handles, weak entries, registered stacks).
// Chester takes one before applying an update and rolls back to it when the update
// fails; its cost is proportional to the pages the update touches.
//
// Why it is complete: every object of the space lives in its pages, and everything else
// that describes the space is saved here. Three things could escape and are excluded
// while a checkpoint is active: full collections (they would release segments, clear
// marks and rebuild free lists in pages outside the tracked ranges — an allocation that
// would need one fails with HeapExhausted instead, which fails the update), eden resizing
// (it drops eden pages), and a second checkpoint. Scavenges stay allowed: what they write
// lies in tracked pages or in memory the restored state considers free.
//
// Objects made while a checkpoint is active come from old space's bump area before its
// free lists, and from new segments once it is used up (while the heap limit leaves room
// for a whole one): memory above the bump top and new segments are outside the tracked
// ranges (the restored state considers them free or drops them), so they cost no
// copy-on-write fault, where a free chunk would cost the saving of its pages and those of
// the chunk split off it.
//
// Handles (references from outside the space) are restored by value: a handle made
// before the checkpoint refers to its old object again; one made after it refers to nil,
// since its object no longer exists. The runtime above keeps its own C++ state (timers,
// I/O watches, caches) and restores it alongside (vm::RuntimeCheckpoint).
#pragma once

#include <memory>
#include <vector>

#include "space/Nursery.h"
#include "space/OldSpace.h"
#include "space/Oop.h"
#include "space/WeakRegistry.h"
#include "space/WriteTracker.h"

namespace space {

class Space;
class HeapObject;

class SpaceCheckpoint {
 public:
  // Saves the state of `space` and starts tracking writes to its pages.
  explicit SpaceCheckpoint(Space& space);
  // Commits (keeps every change) unless rolled back.
  ~SpaceCheckpoint();
  SpaceCheckpoint(const SpaceCheckpoint&) = delete;
  SpaceCheckpoint& operator=(const SpaceCheckpoint&) = delete;

  // Puts the space back exactly as it was when the checkpoint was taken.
  void rollback();
  // Keeps every change made since the checkpoint and stops tracking.
  void commit();

  bool active() const { return active_; }
  // Saves the tracked pages at `pages` ahead of writes to them (WriteTracker::saveAhead).
  void saveAhead(std::vector<uintptr_t>& pages) {
    if (active_) pages_->saveAhead(pages);
  }
  size_t pagesTracked() const { return pages_ ? pages_->pagesTracked() : pagesTrackedAtEnd_; }
  size_t pagesSaved() const { return pages_ ? pages_->pagesSaved() : pagesSavedAtEnd_; }
  size_t faultsTaken() const { return pages_ ? pages_->faultsTaken() : 0; }
  size_t pagesSavedIntoPrepared() const { return pages_ ? pages_->pagesSavedIntoPrepared() : 0; }

 private:
  void end();
  // The tracker goes on making the pages writable in the background (Space::finishPageRelease).
  void handPagesToSpace();

  Space& space_;
  bool active_ = false;
  // The C++ state of the space at the checkpoint.
  Nursery nursery_;
  OldSpace::State oldSpace_;
  std::vector<HeapObject*> remembered_;
  std::vector<Oop> handles_;
  std::vector<WeakRegistry::Entry> weak_;
  std::vector<Oop> stacks_;
  Oop activeStack_;
  Oop specialObjects_;
  uint32_t hashSeed_ = 0;
  ClassIndex nextFreeClassIndex_ = 0;
  bool bumpFirstBefore_ = false;         // old space's allocation order, put back at the end
  std::unique_ptr<WriteTracker> pages_;  // handed to the space when the checkpoint ends
  size_t pagesTrackedAtEnd_ = 0, pagesSavedAtEnd_ = 0;
};

}  // namespace space
