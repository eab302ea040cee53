// ClassLoader: finds "Name.som" on the class path, parses and defines it. The kernel is
// compiled into the binary and loaded at bootstrap; the class path holds the program.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "space/Space.h"

namespace vm {

class Runtime;
using space::Oop;

class ClassLoader {
 public:
  explicit ClassLoader(Runtime& rt) : rt_(rt) {}

  void setClassPath(std::vector<std::string> dirs) { classPath_ = std::move(dirs); }
  void prependToClassPath(const std::string& dir);
  const std::vector<std::string>& classPath() const { return classPath_; }

  // The class named `name`: already defined, or loaded from the class path. The null oop
  // when no file defines it. Throws CompileError for malformed or unreadable files, and
  // when "name.som" on the class path is a directory or another non-file.
  Oop loadClass(std::string_view name);
  // Defines the class in a source file (its name must match the file name).
  Oop loadFile(const std::string& path);
  // Defines a class from source text.
  Oop loadSource(std::string_view source, const std::string& fileName);
  // For an undefined global at run time: loads it if a class file exists; a compile
  // error is reported and ends the program with status 65.
  void tryLoadGlobal(Oop symbol);

  std::optional<std::string> findFile(std::string_view name) const;

 private:
  // Throws CompileError when "name.som" exists on the class path but is no regular file.
  void refuseNonFile(std::string_view name) const;

  Runtime& rt_;
  std::vector<std::string> classPath_;
  std::vector<std::string> loading_;  // names being loaded (to report cycles)
};

std::optional<std::string> readFile(const std::string& path);

}  // namespace vm
