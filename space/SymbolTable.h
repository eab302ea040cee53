// SymbolTable: interns the Symbols of one space (symbols are per space) in a heap Array
// used as an open-addressing hash set.
#pragma once

#include <cstdint>
#include <string_view>

#include "space/ClassIndex.h"
#include "space/Oop.h"

namespace space {

class Space;

class SymbolTable {
 public:
  explicit SymbolTable(Space& space) : space_(space) {}

  void initialize(size_t capacity);
  void reattach();
  // The VM tells the table which class index Symbols get once the Symbol class exists.
  void setSymbolClassIndex(ClassIndex i) { symbolClass_ = i; }
  ClassIndex symbolClassIndex() const { return symbolClass_; }

  // Answers the unique Symbol with these bytes, creating it (in old space) if needed.
  // May collect.
  Oop intern(std::string_view name);
  // Answers the Symbol if it exists, else the null oop. Never allocates.
  Oop lookup(std::string_view name) const;
  size_t count() const { return count_; }

  static uint32_t hashBytes(std::string_view s);

 private:
  void grow();

  Space& space_;
  ClassIndex symbolClass_ = reserved_class::kInvalid;
  size_t count_ = 0;
};

}  // namespace space
