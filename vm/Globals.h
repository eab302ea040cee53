// Globals: the space's global dictionary (class names, 'system', user globals), a heap
// Array of Associations used as an open-addressing table keyed by Symbol identity.
// Compiled code refers to globals through their Association (binding), so redefining a
// global is seen by every method at once.
#pragma once

#include <functional>
#include <string_view>

#include "space/Space.h"

namespace vm {

class Runtime;

class Globals {
 public:
  explicit Globals(Runtime& runtime) : runtime_(runtime) {}

  void initialize(size_t capacity);
  // Re-reads the table array from the special objects and recounts its entries (after
  // an image load or a rollback).
  void reattach();

  // The binding of `name`, or the null oop.
  space::Oop binding(space::Oop symbol) const;
  // The binding of `name`, created undefined (value: the UndefinedGlobal marker) if needed.
  space::Oop bindingOrCreate(space::Oop symbol);
  bool isDefined(space::Oop symbol) const;
  // The value, or the null oop when undefined.
  space::Oop at(space::Oop symbol) const;
  void atPut(space::Oop symbol, space::Oop value);
  // Makes the global undefined again (its binding stays, for code that refers to it).
  void undefine(space::Oop symbol);
  void forEachDefined(const std::function<void(space::Oop symbol, space::Oop value)>& f) const;

 private:
  space::Oop table() const;
  size_t probe(space::Oop table, space::Oop symbol) const;
  void grow();

  Runtime& runtime_;
  size_t count_ = 0;
};

}  // namespace vm
