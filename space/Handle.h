// Handle: an owning reference to an object of a space, held from outside it (a mirror in
// the hypervisor, a tool). It is an entry of the space's handle table, so the object stays
// alive and the handle follows it when it moves or swaps identity; released on destruction.
#pragma once

#include <utility>

#include "space/Space.h"

namespace space {

class Handle {
 public:
  Handle() = default;
  Handle(Space& space, Oop value) : space_(&space), id_(space.handles().create(value)) {}
  ~Handle() { reset(); }
  Handle(const Handle& other) : space_(other.space_) {
    if (space_) id_ = space_->handles().create(other.get());
  }
  Handle& operator=(const Handle& other) {
    if (this != &other) {
      reset();
      space_ = other.space_;
      if (space_) id_ = space_->handles().create(other.get());
    }
    return *this;
  }
  Handle(Handle&& other) noexcept : space_(std::exchange(other.space_, nullptr)), id_(other.id_) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      space_ = std::exchange(other.space_, nullptr);
      id_ = other.id_;
    }
    return *this;
  }

  bool isValid() const { return space_ != nullptr; }
  Space& space() const { return *space_; }
  Oop get() const { return space_->handles().get(id_); }
  void set(Oop v) { space_->handles().set(id_, v); }
  void reset() {
    if (space_) space_->handles().release(id_);
    space_ = nullptr;
  }

 private:
  Space* space_ = nullptr;
  HandleId id_ = 0;
};

}  // namespace space
