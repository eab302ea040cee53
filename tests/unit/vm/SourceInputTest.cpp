// Source input: a leading byte-order mark is skipped, characters that start no token are
// shown as code points or hex bytes (never raw), and class files that are not regular
// files are reported as such instead of as a missing class.
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

#include "tests/unit/vm/RuntimeFixture.h"
#include "vm/ClassLoader.h"
#include "vm/compiler/Lexer.h"
#include "vm/compiler/Parser.h"

using vm::test::RuntimeFixture;

namespace {
std::string parseError(const std::string& source) {
  try {
    vm::Parser p(source, "in.som");
    p.parseClass();
  } catch (const vm::CompileError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("a leading byte-order mark is skipped without changing lines and columns") {
  vm::Lexer lexer(
      "\xEF\xBB\xBF"
      "Foo = ( )",
      "in.som");
  vm::Token t = lexer.next();
  CHECK(t.kind == vm::TokenKind::Identifier);
  CHECK(t.text == "Foo");
  CHECK(t.where.line == 1);
  CHECK(t.where.column == 1);
  CHECK(parseError("\xEF\xBB\xBF"
                   "Foo = ( bar = ( ^ 1 ) )") == "");
}

TEST_CASE("characters that start no token are shown by code point or as hex bytes") {
  struct Case {
    const char* source;
    const char* error;
  };
  const Case cases[] = {
      {"Foo = ( bar = ( ^ \xEF\xBB\xBF 1 ) )",
       "in.som:1:19: unexpected byte-order mark (U+FEFF; only allowed at the start of a file)"},
      {"Foo = ( bar = ( ^ \xC3\xA9 ) )", "in.som:1:19: unexpected character '\xC3\xA9' (U+00E9)"},
      {"Foo = ( bar = ( ^ \xFF ) )", "in.som:1:19: unexpected byte 0xFF (not valid UTF-8)"},
      {"Foo = ( bar = ( ^ \xC3 ) )", "in.som:1:19: unexpected byte 0xC3 (not valid UTF-8)"},
      {"Foo = ( bar = ( ^ \xED\xA0\x80 ) )", "in.som:1:19: unexpected byte 0xED (not valid UTF-8)"},  // a surrogate
      {"Foo = ( bar = ( ^ \x01 ) )", "in.som:1:19: unexpected control character 0x01"},
      {"Foo = ( bar = ( ^ ` ) )", "in.som:1:19: unexpected character '`'"},
      {"Foo = ( bar = ( ^ $\xE2\x82 ) )",
       "in.som:1:20: expected a character after '$' but found byte 0xE2 (not valid UTF-8)"},
  };
  CHECK(sizeof cases / sizeof cases[0] == 8);
  for (const Case& c : cases) {
    CAPTURE(c.source);
    CHECK(parseError(c.source) == c.error);
  }
}

TEST_CASE("a class path entry that is not a regular file is reported as such") {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("espell-source-input-" + std::to_string(::getpid()));
  fs::create_directories(dir / "Folder.som");
  RuntimeFixture f;
  f.rt->loader().setClassPath({dir.string()});
  try {
    f.rt->loader().loadClass("Folder");
    FAIL("a directory loaded as a class");
  } catch (const vm::CompileError& e) {
    CHECK(std::string(e.what()) == (dir / "Folder.som").string() + ": is a directory, not a class file");
  }
  CHECK(f.rt->loader().loadClass("Absent").isNull());  // missing stays "not found"
  fs::remove_all(dir);
}
