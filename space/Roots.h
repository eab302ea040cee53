// Roots: how C++ code keeps heap objects alive and up to date across collections.
#pragma once

#include <vector>

#include "space/Oop.h"

namespace space {

// Visits one root slot; the collector may overwrite it with the object's new address.
class RootVisitor {
 public:
  virtual void visit(Oop& slot) = 0;

 protected:
  ~RootVisitor() = default;
};

// A subsystem holding oops outside the heap (the interpreter's active stack, caches)
// registers itself with Space::addRootProvider and reports them on every collection.
class RootProvider {
 public:
  virtual void visitRoots(RootVisitor& visitor) = 0;
  // Called after identity swaps so caches keyed by object identity can be dropped.
  virtual void afterBecome() {}

 protected:
  ~RootProvider() = default;
};

// A stack of addresses of C++ locals holding oops, for code between two allocations:
//   LocalRoot r(space.localRoots(), oop);  ... allocate ...;  use r.get()
class LocalRootStack {
 public:
  void push(Oop* p) { roots_.push_back(p); }
  void pop() { roots_.pop_back(); }
  template <class F>
  void forEach(F&& f) {
    for (Oop* p : roots_) f(*p);
  }

 private:
  std::vector<Oop*> roots_;
};

class LocalRoot {
 public:
  LocalRoot(LocalRootStack& stack, Oop value) : stack_(stack), value_(value) { stack_.push(&value_); }
  ~LocalRoot() { stack_.pop(); }
  LocalRoot(const LocalRoot&) = delete;
  LocalRoot& operator=(const LocalRoot&) = delete;
  Oop get() const { return value_; }
  void set(Oop v) { value_ = v; }
  operator Oop() const { return value_; }

 private:
  LocalRootStack& stack_;
  Oop value_;
};

}  // namespace space
