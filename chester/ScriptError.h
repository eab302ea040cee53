// ScriptError: why an update script was refused before the guest was paused — named as
// precisely as the script allows: the line and column of a JSON syntax error, the step
// and field of a schema violation, the line and column inside a method's source.
#pragma once

#include <stdexcept>
#include <string>

namespace chester {

class ScriptError : public std::runtime_error {
 public:
  // `where` is what a reader of the script needs to find the place ("line 4, column 12",
  // "steps[2].source, line 3, column 7"); `what` says what is wrong there.
  ScriptError(std::string where, std::string what)
      : std::runtime_error(where.empty() ? what : where + ": " + what),
        where_(std::move(where)),
        what_(std::move(what)) {}
  const std::string& where() const { return where_; }
  const std::string& problem() const { return what_; }

 private:
  std::string where_;
  std::string what_;
};

}  // namespace chester
