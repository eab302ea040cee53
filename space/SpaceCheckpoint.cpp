// SpaceCheckpoint: see SpaceCheckpoint.h.
#include "space/SpaceCheckpoint.h"

#include <stdexcept>

#include "space/Space.h"

namespace space {

SpaceCheckpoint::SpaceCheckpoint(Space& space) : space_(space), nursery_(*space.nursery_) {
  if (space.checkpoint_) throw std::logic_error("the space already has an active checkpoint");
  if (space.collecting_) throw std::logic_error("a checkpoint during a collection");
  space.finishSweeping();     // its state is old space's, whole (armCheckpoint ended it, ahead)
  space.waitForPagesHold();   // a snapshot still writing these pages finishes first
  space.finishPageRelease();  // and the previous checkpoint's pages are writable again
  // 1. The C++ state (no spare segment is prepared until the end: see restoreState).
  space.oldSpace_->holdSpareSegment(true);
  oldSpace_ = space.oldSpace_->state();
  remembered_ = space.rememberedSet_.entries();
  handles_ = space.handles_.values();
  weak_ = space.weak_.entries_;
  stacks_ = space.stacks_;
  activeStack_ = space.activeStack_;
  specialObjects_ = space.specialObjects_;
  hashSeed_ = space.hashSeed_;
  nextFreeClassIndex_ = space.classTable_.nextFreeIndex();
  // 2. The pages that hold objects.
  std::vector<MemoryRange> ranges = space.objectRanges();
  // Protecting ahead failed (the kernel's limit on mappings, say): all in the pause.
  if (space.armedPages_ && !space.armedPages_->waitUntilArmed()) space.disarmCheckpoint();
  if (space.armedPages_) {
    pages_ = space.takeArmedPages();  // protected ahead: only what was written since
    pages_->begin(ranges);
  } else {
    pages_ = std::make_unique<WriteTracker>(ranges);
  }
  // 3. From now on no full collection and no eden resizing (see the header), and old
  // objects come from the bump area first, then from new segments: above the tracked
  // ranges, they cost no fault.
  bumpFirstBefore_ = space.oldSpace_->bumpFirst();
  space.oldSpace_->setBumpFirst(true);
  space.oldSpace_->setGrowBeforeReuse(true);
  space.checkpoint_ = this;
  active_ = true;
}

SpaceCheckpoint::~SpaceCheckpoint() {
  if (active_) commit();
}

void SpaceCheckpoint::commit() {
  if (!active_) return;
  pages_->releaseInBackground();
  handPagesToSpace();
  end();
}

void SpaceCheckpoint::rollback() {
  if (!active_) throw std::logic_error("rollback of a checkpoint that has ended");
  Space& s = space_;
  s.dropCensus();      // what it found or watched may be gone with what is undone
  s.abandonMarking();  // and what a marking marked and has yet to scan
  // 1. Segments opened since are dropped, the rest described as before.
  s.oldSpace_->restoreState(oldSpace_);
  // 2. Every written page gets its old contents back.
  pages_->restore(WriteTracker::Release::InBackground);
  handPagesToSpace();
  // 3. The C++ state.
  *s.nursery_ = nursery_;
  s.rememberedSet_.setEntries(remembered_);
  s.handles_.restoreValues(handles_, s.nil_);
  s.weak_.entries_ = weak_;
  s.weak_.died_.clear();
  s.stacks_ = stacks_;
  s.activeStack_ = activeStack_;
  s.specialObjects_ = specialObjects_;
  s.hashSeed_ = hashSeed_;
  s.classTable_.reattach();
  s.classTable_.setNextFreeIndex(nextFreeClassIndex_);
  s.symbols_.reattach();
  end();
}

void SpaceCheckpoint::handPagesToSpace() {
  pagesTrackedAtEnd_ = pages_->pagesTracked();
  pagesSavedAtEnd_ = pages_->pagesSaved();
  space_.releasingPages_ = std::move(pages_);
}

void SpaceCheckpoint::end() {
  space_.oldSpace_->setBumpFirst(bumpFirstBefore_);
  space_.oldSpace_->setGrowBeforeReuse(false);
  space_.oldSpace_->holdSpareSegment(false);
  space_.checkpoint_ = nullptr;
  active_ = false;
}

}  // namespace space
