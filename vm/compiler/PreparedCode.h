// PreparedCode: code parsed and generated ahead of an update's pause, for the pause to
// install. Parsing and code generation read nothing of the heap but the class compiled
// for — its name and instance variables, a CompileContext — so they can run while the
// program still runs; installing the code (allocating the method and its literals,
// interning symbols) is what is left for the pause. A compile in the pause of the same
// text, as the same kind of code, in an equal context takes the prepared CodeSpec instead
// of parsing and generating it again. A context that changed meanwhile (the update
// redefined the class) misses, and the code is compiled as if nothing had been prepared:
// the result is the same either way. ClassBuilder holds one; Chester fills it before
// pausing and clears it after the update.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "vm/compiler/CodeGenerator.h"
#include "vm/compiler/CodeSpec.h"

namespace vm {

class PreparedCode {
 public:
  // The text and what it is compiled as: a method, or statements with `parameters` (a
  // doIt, see Runtime::evaluate).
  struct Key {
    std::string source;
    bool statements = false;
    std::vector<std::string> parameters;
    CompileContext context;
    bool operator==(const Key&) const = default;
  };
  void add(Key key, std::unique_ptr<CodeSpec> spec);
  // The code prepared for `key`, or nullptr.
  const CodeSpec* find(const Key& key) const;
  void clear() { entries_.clear(); }
  size_t size() const { return entries_.size(); }

 private:
  std::vector<std::pair<Key, std::unique_ptr<CodeSpec>>> entries_;  // a few per update
};

}  // namespace vm
