// ClassLoader: class path search and class file loading.
#include "vm/ClassLoader.h"

#include <sys/stat.h>
#include <algorithm>
#include <fstream>
#include <sstream>

#include "vm/ClassBuilder.h"
#include "vm/Interpreter.h"
#include "vm/Objects.h"
#include "vm/Runtime.h"
#include "vm/compiler/Parser.h"

namespace vm {

std::optional<std::string> readFile(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void ClassLoader::prependToClassPath(const std::string& dir) {
  classPath_.erase(std::remove(classPath_.begin(), classPath_.end(), dir), classPath_.end());
  classPath_.insert(classPath_.begin(), dir);
}

std::optional<std::string> ClassLoader::findFile(std::string_view name) const {
  for (const std::string& dir : classPath_) {
    std::string path = (dir.empty() ? std::string(".") : dir) + "/" + std::string(name) + ".som";
    struct stat st {};
    if (stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) return path;
  }
  return std::nullopt;
}

Oop ClassLoader::loadSource(std::string_view source, const std::string& fileName) {
  Parser parser(source, fileName);
  std::unique_ptr<ClassNode> node = parser.parseClass();
  Oop cls = rt_.classes().defineClass(*node);
  rt_.classes().installGlobal(cls);
  return cls;
}

Oop ClassLoader::loadFile(const std::string& path) {
  std::optional<std::string> text = readFile(path);
  if (!text) throw CompileError(path, kWholeFile, "cannot read the file");
  return loadSource(*text, path);
}

void ClassLoader::refuseNonFile(std::string_view name) const {
  for (const std::string& dir : classPath_) {
    std::string path = (dir.empty() ? std::string(".") : dir) + "/" + std::string(name) + ".som";
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) continue;
    throw CompileError(path, kWholeFile,
                       S_ISDIR(st.st_mode) ? "is a directory, not a class file" : "is not a regular file");
  }
}

Oop ClassLoader::loadClass(std::string_view name) {
  Oop sym = rt_.symbol(name);
  Oop existing = rt_.globals().at(sym);
  if (!existing.isNull()) return existing;
  std::optional<std::string> path = findFile(name);
  if (!path) {
    refuseNonFile(name);
    return Oop();
  }
  if (std::find(loading_.begin(), loading_.end(), name) != loading_.end()) {
    throw CompileError(*path, kWholeFile, "class " + std::string(name) + " inherits from itself");
  }
  loading_.emplace_back(name);
  struct Pop {
    std::vector<std::string>& v;
    ~Pop() { v.pop_back(); }
  } pop{loading_};
  std::optional<std::string> text = readFile(*path);
  if (!text) throw CompileError(*path, kWholeFile, "cannot read the file");
  Parser parser(*text, *path);
  std::unique_ptr<ClassNode> node = parser.parseClass();
  if (node->name != name) {
    throw CompileError(*path, node->where,
                       "file defines class '" + node->name + "', expected '" + std::string(name) + "'");
  }
  Oop cls = rt_.classes().defineClass(*node);
  rt_.classes().installGlobal(cls);
  return cls;
}

void ClassLoader::tryLoadGlobal(Oop symbol) {
  std::string name(bytesOf(symbol));
  if (name.empty() || !std::isupper(static_cast<unsigned char>(name[0]))) return;
  try {
    loadClass(name);
  } catch (const CompileError& e) {
    rt_.endProgram({ProgramOutcome::Kind::CompileError, 0, e.what()});
  }
}

}  // namespace vm
