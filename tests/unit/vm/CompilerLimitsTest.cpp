// Compiler limits: every count the compiler stores in a fixed width (CodeHeader fields,
// instruction operands, the line table) at its limit compiles and runs, and one beyond it
// is a CompileError naming the limit at the construct that crosses it. The sources are
// generated; the table's count check makes a forgotten row fail.
//
// Literal indexes, send-site indexes and jump distances are 16-bit operands too, but each
// use of one takes at least three bytes of code and a method's code is at most 65535 bytes
// (the code-size row), so source cannot reach those limits: the emitter still checks them.
#include <functional>

#include "tests/unit/vm/RuntimeFixture.h"
#include "vm/ClassLoader.h"
#include "vm/ObjectLayouts.h"
#include "vm/Opcodes.h"
#include "vm/Primitives.h"
#include "vm/compiler/CodeGenerator.h"
#include "vm/compiler/Parser.h"

using vm::test::RuntimeFixture;

namespace {

// A class file being written, which remembers where one construct of interest starts.
struct Source {
  std::string text;
  int line = 1;
  int column = 1;
  int markLine = 0;
  int markColumn = 0;

  Source& operator<<(const std::string& s) {
    for (char c : s) {
      if (c == '\n') {
        line++;
        column = 1;
      } else {
        column++;
      }
    }
    text += s;
    return *this;
  }
  // The next text written is the construct a limit error must point at.
  Source& mark() {
    markLine = line;
    markColumn = column;
    return *this;
  }
};

std::string name(const char* prefix, int i) {
  return prefix + std::to_string(i);
}

struct LimitCase {
  const char* what;  // the limit, as the error names it
  int limit;         // the largest value that compiles
  // Class "Limit" whose "run" needs [n] of the counted thing; marks the construct that
  // crosses the limit when n = limit + 1.
  std::function<Source(int n)> source;
  const char* result;  // what "Limit new run" answers (asString) at the limit
  // The value compiled and run "at the limit" when another limit comes first (0: limit).
  int reachable = 0;
};

const std::vector<LimitCase>& limitCases() {
  static const std::vector<LimitCase> cases = {
      {"the number of arguments", int(vm::CodeHeader::kMaxArgs),
       [](int n) {
         Source s;
         s << "Limit = (\n  ";
         for (int i = 0; i < n; i++) {
           s << name("k", i) << ": ";
           if (i == int(vm::CodeHeader::kMaxArgs)) s.mark();
           s << name("a", i) << " ";
         }
         s << "= ( ^ " << name("a", n - 1) << " )\n  run = ( ^ self";
         for (int i = 0; i < n; i++) s << " " << name("k", i) << ": " << std::to_string(i);
         s << " )\n)\n";
         return s;
       },
       "254"},
      {"the number of arguments", int(vm::CodeHeader::kMaxArgs),  // of a block
       [](int n) {
         Source s;
         s << "Limit = (\n  run = ( ^ [";
         for (int i = 0; i < n; i++) {
           s << " :";
           if (i == int(vm::CodeHeader::kMaxArgs)) s.mark();
           s << name("a", i);
         }
         s << " | " << name("a", n - 1) << " ] valueWithArguments: (Array new: " << std::to_string(n)
           << " withAll: 7) )\n)\n";
         return s;
       },
       "7"},
      {"the number of temporaries (declared, compiler-made and copied values)", int(vm::CodeHeader::kMaxTemps),
       [](int n) {
         Source s;
         s << "Limit = (\n  run = ( |";
         for (int i = 0; i < n; i++) {
           s << " ";
           if (i == int(vm::CodeHeader::kMaxTemps)) s.mark();
           s << name("t", i);
         }
         s << " | t0 := 5. ^ t0 )\n)\n";
         return s;
       },
       "5"},
      {"the temporary index", vm::kMaxByteOperand,
       [](int n) {
         Source s;
         s << "Limit = (\n  run = ( |";
         for (int i = 0; i <= n; i++) s << " " << name("t", i);
         s << " |\n    ";
         s.mark() << name("t", n) << " := 6.\n    ^ " << name("t", n) << " )\n)\n";
         return s;
       },
       "6"},
      {"the number of values a block copies from its outer scopes", int(vm::CodeHeader::kMaxCopied),
       [](int n) {
         Source s;
         s << "Limit = (\n  run = ( |";
         for (int i = 0; i < n; i++) s << " " << name("t", i);
         s << " | " << name("t", n - 1) << " := 9.\n    ^ ";
         s.mark() << "[";
         for (int i = 0; i < n; i++) s << " " << name("t", i) << (i + 1 < n ? "." : "");
         s << " ] value )\n)\n";
         return s;
       },
       "9"},
      {"the operand stack size of this method or block", int(vm::CodeHeader::kMaxStack),
       // The block's stack holds the receiver and n - 2 arguments, plus one spare slot. Its
       // code takes n + 3 bytes (one per push, the send, the return), so the code size
       // limit comes first: 65532 is the largest stack size source can reach.
       [](int n) {
         Source s;
         s << "Limit = (\n  run = ( ^ [ self";
         for (int i = 0; i < n - 2; i++) {
           s << " " << name("k", i) << ": ";
           if (i == n - 3) s.mark();
           s << "nil";
         }
         s << " ] on: MessageNotUnderstood do: [ :e | e return: e message arguments size ] )\n)\n";
         return s;
       },
       "65530", int(vm::line_table::kMaxCodeBytes) - 3},
      {"the temp vector size", vm::kMaxByteOperand,
       [](int n) {
         Source s;
         s << "Limit = (\n  run = ( |";
         for (int i = 0; i < n; i++) {
           s << " ";
           if (i == vm::kMaxByteOperand) s.mark();
           s << name("v", i);
         }
         s << " |\n    [";
         for (int i = 0; i < n; i++) s << " " << name("v", i) << " := " << std::to_string(i % 100) << ".";
         s << " ] value.\n    ^ " << name("v", n - 1) << " )\n)\n";
         return s;
       },
       "54"},
      {"the instance variable index", vm::kMaxByteOperand,
       [](int n) {
         Source s;
         s << "Limit = (\n  |";
         for (int i = 0; i <= n; i++) s << " " << name("f", i);
         s << " |\n  run = ( ";
         s.mark() << name("f", n) << " := 4. ^ " << name("f", n) << " )\n)\n";
         return s;
       },
       "4"},
      {"the number of elements of a brace array", vm::kMaxByteOperand,
       [](int n) {
         Source s;
         s << "Limit = (\n  run = ( ^ ";
         s.mark() << "{";
         for (int i = 0; i < n; i++) s << " 1.";
         s << " } size )\n)\n";
         return s;
       },
       "255"},
      {"the line number recorded in the line table", vm::line_table::kMaxLine,
       [](int n) {
         Source s;
         s << "Limit = (\n  run = (";
         while (s.line < n) s << "\n";
         s << "    ";
         s.mark() << "^ 8 )\n)\n";
         return s;
       },
       "8"},
      {"the bytecode size of a method or block", int(vm::line_table::kMaxCodeBytes),
       // "x := 1." is 4 bytes (PushSmallInteger, PopStoreTemp), "x := nil." 3 bytes, "^ x" 3.
       [](int n) {
         Source s;
         s << "Limit = (\n  ";
         s.mark() << "run = ( | x |\n";
         int rest = n - 3;
         int short3 = (3 * rest) % 4;
         int long4 = (rest - 3 * short3) / 4;
         for (int i = 0; i < short3; i++) s << "    x := nil.\n";
         for (int i = 0; i < long4; i++) s << "    x := 1.\n";
         s << "    ^ x )\n)\n";
         return s;
       },
       "1"},
  };
  return cases;
}

// Compiles every method of [source]'s class to CodeSpecs (no runtime needed).
void compileClass(const std::string& source) {
  vm::Parser parser(source, "Limit.som");
  auto cls = parser.parseClass();
  vm::CompileContext ctx{"Limit.som", cls->name, cls->instanceFields};
  for (auto& m : cls->instanceMethods) vm::compileMethod(*m, ctx);
}

}  // namespace

TEST_CASE("each fixed-width count compiles at its limit and is a located CompileError beyond it") {
  const auto& cases = limitCases();
  CHECK(cases.size() == 11);
  for (const LimitCase& c : cases) {
    std::string what = c.what;
    CAPTURE(what);
    // At the limit: compiles, installs and runs.
    {
      RuntimeFixture f;
      Source at = c.source(c.reachable ? c.reachable : c.limit);
      REQUIRE_NOTHROW(f.rt->loader().loadSource(at.text, "Limit.som"));
      CHECK(f.eval("Limit new run") == c.result);
    }
    // One beyond: refused, naming the limit, at the construct that crosses it.
    Source beyond = c.source(c.limit + 1);
    try {
      compileClass(beyond.text);
      FAIL("compiled beyond the limit");
    } catch (const vm::CompileError& e) {
      std::string error = e.what();
      CAPTURE(error);
      CHECK(e.file() == "Limit.som");
      CHECK(e.message().find(c.what) != std::string::npos);
      CHECK(e.message().find("the limit is " + std::to_string(c.limit)) != std::string::npos);
      CHECK(e.where().line == beyond.markLine);
      CHECK(e.where().column == beyond.markColumn);
    }
  }
}

TEST_CASE("the bytecode-size case is exactly at the limit") {
  const LimitCase& c = limitCases().back();
  Source at = c.source(c.limit);
  vm::Parser parser(at.text, "Limit.som");
  auto cls = parser.parseClass();
  auto spec = vm::compileMethod(*cls->instanceMethods[0], vm::CompileContext{"Limit.som", "Limit", {}});
  CHECK(spec->bytecodes.size() == vm::line_table::kMaxCodeBytes);
}

TEST_CASE("nested blocks: the deepest accepted nesting compiles, one more is refused") {
  auto nested = [](int depth) {
    std::string s = "Limit = ( run = ( ^ ";
    for (int i = 0; i < depth; i++) s += "[ ";
    s += "3";
    for (int i = 0; i < depth; i++) s += " ] value";
    return s + " ) )";
  };
  // The deepest nesting the parser accepts (each level is a block and a send).
  int deepest = 0;
  for (int d = 1; d <= vm::kMaxNesting; d++) {
    try {
      compileClass(nested(d));
      deepest = d;
    } catch (const vm::CompileError& e) {
      CHECK(std::string(e.message()).find("nested too deeply") != std::string::npos);
      break;
    }
  }
  REQUIRE(deepest > 10);
  RuntimeFixture f;
  f.rt->loader().loadSource(nested(deepest), "Limit.som");
  CHECK(f.eval("Limit new run") == "3");
  CHECK_THROWS_AS(compileClass(nested(deepest + 1)), vm::CompileError);
}

TEST_CASE("the primitive table fits the header's primitive field") {
  vm::PrimitiveTable table;
  CHECK(table.size() - 1 <= vm::CodeHeader::kMaxPrimitive);  // entry 0 is "no primitive"
}
