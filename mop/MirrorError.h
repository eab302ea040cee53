// MirrorError: a mirror operation was refused. It is thrown before anything in the target
// space changed, and names the operation and what was wrong with its arguments.
#pragma once

#include <stdexcept>
#include <string>

namespace mop {

class MirrorError : public std::runtime_error {
 public:
  MirrorError(const std::string& operation, const std::string& problem)
      : std::runtime_error(operation + ": " + problem), operation_(operation) {}
  const std::string& operation() const { return operation_; }

 private:
  std::string operation_;
};

}  // namespace mop
