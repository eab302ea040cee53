// SourceLocation / CompileError: where a token or node came from, and the located error
// every front-end stage reports ("file:line:column: expected X but found Y").
#pragma once

#include <stdexcept>
#include <string>

namespace vm {

struct SourceLocation {
  int line = 1;
  int column = 1;
  int offset = 0;  // byte offset into the source
};

// An error about a whole file (it cannot be read, it is a directory) has line 0 and is
// shown as "file: message".
constexpr SourceLocation kWholeFile{0, 0, 0};

class CompileError : public std::runtime_error {
 public:
  CompileError(std::string file, SourceLocation where, std::string message)
      : std::runtime_error(
            file + ":" + (where.line > 0 ? std::to_string(where.line) + ":" + std::to_string(where.column) + ":" : "") +
            " " + message),
        file_(std::move(file)),
        where_(where),
        message_(std::move(message)) {}
  const std::string& file() const { return file_; }
  SourceLocation where() const { return where_; }
  const std::string& message() const { return message_; }

 private:
  std::string file_;
  SourceLocation where_;
  std::string message_;
};

}  // namespace vm
