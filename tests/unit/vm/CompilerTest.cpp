// Compiler: closure analysis decisions, inlining, trivial methods, stack depth.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "vm/Opcodes.h"
#include "vm/compiler/CodeGenerator.h"
#include "vm/compiler/CodeVerifier.h"
#include "vm/compiler/Parser.h"

using namespace vm;

namespace {
std::unique_ptr<CodeSpec> compile(const std::string& source, std::vector<std::string> fields = {}) {
  Parser p(source, "t");
  auto m = p.parseMethod();
  return compileMethod(*m, CompileContext{"t", "Test", std::move(fields)});  // verified (CodeVerifier)
}

int count(const CodeSpec& s, Op op) {
  int n = 0;
  for (size_t pc = 0; pc < s.bytecodes.size(); pc += size_t(instructionSize(Op(s.bytecodes[pc])))) {
    if (Op(s.bytecodes[pc]) == op) n++;
  }
  return n;
}
bool uses(const CodeSpec& s, Op op) {
  return count(s, op) > 0;
}
bool sends(const CodeSpec& s, const std::string& selector) {
  for (const auto& site : s.sendSites) {
    if (site.selector == selector) return true;
  }
  return false;
}
}  // namespace

TEST_CASE("control structures with literal blocks are inlined") {
  auto s = compile("foo: x ^ x > 0 ifTrue: [1] ifFalse: [[:y | y] value: 2]");
  CHECK_FALSE(sends(*s, "ifTrue:ifFalse:"));
  CHECK(uses(*s, Op::JumpIfFalse));
  CHECK(s->blocks.size() == 1);  // only the block that is really a block
  auto loop = compile("foo | s | s := 0. 1 to: 10 do: [:i | s := s + i]. [s > 0] whileTrue: [s := s - 1]. ^ s");
  CHECK_FALSE(sends(*loop, "to:do:"));
  CHECK_FALSE(sends(*loop, "whileTrue:"));
  CHECK(loop->blocks.empty());
  CHECK(uses(*loop, Op::JumpBack));
}

TEST_CASE("sends whose arguments are not literal blocks stay sends") {
  auto s = compile("foo: b ^ true ifTrue: b");
  CHECK(sends(*s, "ifTrue:"));
}

TEST_CASE("captured variables are copied unless written after capture") {
  auto copied = compile("foo | x | x := 3. ^ [x + 1]");
  CHECK_FALSE(uses(*copied, Op::MakeTempVector));
  REQUIRE(copied->blocks.size() == 1);
  CHECK(copied->blocks[0]->numCopied == 1);
  auto shared = compile("foo | x b | b := [x]. x := 3. ^ b");
  CHECK(uses(*shared, Op::MakeTempVector));
  auto writtenInside = compile("foo | n | n := 0. ^ [n := n + 1]");
  CHECK(uses(*writtenInside, Op::MakeTempVector));
  auto loopVar = compile("foo | a | a := Array new: 3. 1 to: 3 do: [:i | a at: i put: [i]]. ^ a");
  CHECK_FALSE(uses(*loopVar, Op::MakeTempVector));
  auto selfRef = compile("foo | f | f := [:n | n < 2 ifTrue: [1] ifFalse: [(f value: n - 1) * n]]. ^ f value: 5");
  CHECK(uses(*selfRef, Op::MakeTempVector));
}

// Name resolution and capture lookups are hashed (Scope.h): before, declaring n names cost
// O(n^2) (60000 temporaries: 12 s before the refusal; the fuzz corpus keeps such inputs).
TEST_CASE("a method with tens of thousands of temporaries is analysed, then refused by the code generator") {
  std::string temps, uses;
  for (int i = 0; i < 60000; i++) temps += " t" + std::to_string(i);
  for (int i = 0; i < 60000; i += 7) uses += " t" + std::to_string(i) + " := t" + std::to_string(59999 - i) + ".";
  std::string error;
  try {
    compile("foo |" + temps + " |" + uses + " ^ [ t0 + t59999 ]");
  } catch (const CompileError& e) {
    error = e.what();
  }
  INFO(error);
  CHECK(error.find("the temporary index") != std::string::npos);
  // Within the limit, many captured variables resolve to the right copies.
  std::string few, sum = "0";
  for (int i = 0; i < 200; i++) few += " v" + std::to_string(i);
  for (int i = 0; i < 200; i++) sum += " + v" + std::to_string(i);
  auto captured = compile("foo |" + few + " | ^ [ " + sum + " ]");
  REQUIRE(captured->blocks.size() == 1);
  CHECK(captured->blocks[0]->numCopied == 200);
}

// A cascade part ("; bar to: 5 do: [...]") is compiled as plain sends. The closure
// analysis once inlined its blocks all the same, so the generator compiled a closure over
// slots of the enclosing frame (and named its values past the end of the name table).
TEST_CASE("the blocks of a cascade part are closures, in the analysis as in the code") {
  auto s = compile("foo | t u | t := 0. ^ 3 yourself; bar to: 5 do: [:i | u := i. t := t + i]");
  CHECK(sends(*s, "to:do:"));
  REQUIRE(s->blocks.size() == 1);
  const CodeSpec& block = *s->blocks[0];
  CHECK(block.numArgs == 1);
  REQUIRE(block.tempNames.size() == size_t(block.numArgs + block.numTemps));
  CHECK(block.tempNames[0] == "i");
  CHECK(uses(*s, Op::MakeTempVector));  // t and u are written inside a closure
  for (const char* source :
       {"foo: x ^ x yourself; not ifTrue: [1] ifFalse: [2]", "foo: x ^ x yourself; and: [x]",
        "foo: x ^ x yourself; ifNil: [0] ifNotNil: [:v | v]", "foo: x ^ x yourself; timesRepeat: [x]"}) {
    auto c = compile(source);
    CAPTURE(source);
    CHECK_FALSE(c->blocks.empty());
  }
  // A part's chain of unary sends is walked without recursion (the parser does not count
  // receiver chains as nesting).
  std::string chain;
  for (int i = 0; i < 200000; i++) chain += " yourself";
  std::string error;
  try {
    compile("foo ^ 3 yourself;" + chain + " + 1");
  } catch (const CompileError& e) {
    error = e.what();
  }
  INFO(error);
  CHECK(error.find("the send site index") != std::string::npos);
}

TEST_CASE("a return inside a block is a non-local return and marks the block") {
  auto s = compile("foo: c c do: [:e | e > 1 ifTrue: [^ e]]. ^ nil");
  REQUIRE(s->blocks.size() == 1);
  CHECK(uses(*s->blocks[0], Op::NonLocalReturn));
  CHECK((s->blocks[0]->flags & CodeHeader::kNeedsOuterContext) != 0);
}

TEST_CASE("trivial methods are recognized") {
  CHECK(compile("x ^ x", {"x"})->quick == QuickMethod::ReturnField);
  CHECK(compile("x: v x := v", {"x"})->quick == QuickMethod::SetField);
  CHECK(compile("yourself ^ self")->quick == QuickMethod::ReturnSelf);
  CHECK(compile("isNil ^ false")->quick == QuickMethod::ReturnFalse);
  CHECK(compile("x ^ x + 1", {"x"})->quick == QuickMethod::None);
}

TEST_CASE("the maximum stack depth covers the deepest expression") {
  auto s = compile("foo ^ 1 + (2 + (3 + (4 + 5)))");
  CHECK(s->maxStack >= 5);
}

TEST_CASE("assigning an argument moves it to a temporary") {
  auto s = compile("dec: n n := n - 1. ^ n");
  CHECK(uses(*s, Op::PushArgument));
  CHECK(uses(*s, Op::PopStoreTemp));
}

TEST_CASE("and: and or: in a test compile to jumps, without a Boolean pushed and tested again") {
  auto loop = compile("foo: a | i | i := 0. [i < a and: [i ~= 5]] whileTrue: [i := i + 1]. ^ i");
  CHECK(count(*loop, Op::JumpIfFalse) == 2);  // one per part, both to the exit
  CHECK_FALSE(uses(*loop, Op::PushFalse));
  CHECK_FALSE(uses(*loop, Op::Jump));
  auto branch = compile("foo: a ^ (a > 1 or: [a < -1]) ifTrue: [1] ifFalse: [2]");
  CHECK(count(*branch, Op::JumpIfTrue) == 1);   // the left part decides when true
  CHECK(count(*branch, Op::JumpIfFalse) == 1);  // the right part always decides
  CHECK_FALSE(uses(*branch, Op::PushTrue));
  // A block with temporaries or a return in the right part stays a value.
  auto withTemp = compile("foo: a ^ (a > 1 and: [| t | t := a. t < 9]) ifTrue: [1]");
  CHECK(uses(*withTemp, Op::PushFalse));
  // As a value (not a test), and: still answers a Boolean.
  auto value = compile("foo: a ^ a > 1 and: [a < 9]");
  CHECK(uses(*value, Op::PushFalse));
}

TEST_CASE("an inlined block's temporary is set to nil on entry unless assigned before any use") {
  auto assigned = compile("foo | i | i := 0. [i < 3] whileTrue: [| t | t := i * 2. i := i + t]. ^ i");
  CHECK_FALSE(uses(*assigned, Op::PushNil));
  auto readFirst = compile("foo | i | i := 0. [i < 3] whileTrue: [| t | t isNil ifTrue: [i := i + 1]. t := 1]. ^ i");
  CHECK(uses(*readFirst, Op::PushNil));
  auto readInValue = compile("foo | i | i := 0. [i < 3] whileTrue: [| t | t := t. i := i + 1]. ^ i");
  CHECK(uses(*readInValue, Op::PushNil));
  auto reflective = compile("foo | i | i := 0. [i < 3] whileTrue: [| t | thisContext. t := 1. i := i + t]. ^ i");
  CHECK(uses(*reflective, Op::PushNil));
}

TEST_CASE("counted loops end in a fast step, followed by the general step") {
  auto up = compile("foo | s | s := 0. 1 to: 10 do: [:i | s := s + i]. ^ s");
  CHECK(count(*up, Op::ForLoopUp) == 1);
  CHECK(count(*up, Op::JumpBack) == 1);  // the general step's
  auto down = compile("foo | s | s := 0. 10 downTo: 1 do: [:i | s := s + i]. ^ s");
  CHECK(count(*down, Op::ForLoopDown) == 1);
  auto times = compile("foo | s | s := 0. 3 timesRepeat: [s := s + 1]. ^ s");
  CHECK(count(*times, Op::ForLoopUp) == 1);
  // A literal step other than the implied one takes the general step only.
  auto stepped = compile("foo | s | s := 0. 1 to: 10 by: 2 do: [:i | s := s + i]. ^ s");
  CHECK_FALSE(uses(*stepped, Op::ForLoopUp));
  CHECK_FALSE(uses(*stepped, Op::ForLoopDown));
}

TEST_CASE("a push directly followed by a send is one fused instruction, unless a jump lands on the send") {
  auto fused = compile("foo: a | t | t := 3. ^ (3 + a) foo: t");
  CHECK(uses(*fused, Op::PushArgumentSendAdd));
  CHECK(uses(*fused, Op::PushTempSend));
  CHECK_FALSE(uses(*fused, Op::SendAdd));
  auto self = compile("foo ^ self bar");
  CHECK(uses(*self, Op::PushSelfSend));
  // The ifTrue: branch jumps to the +, the ifFalse: branch falls into it after a push.
  auto joined = compile("foo: c | t u | t := 1. u := 2. ^ 5 + (c ifTrue: [t] ifFalse: [u])");
  CHECK(uses(*joined, Op::SendAdd));
  CHECK_FALSE(uses(*joined, Op::PushTempSendAdd));
  // Super sends and sends without a fused form stay apart.
  auto super = compile("foo: a ^ super foo: a");
  CHECK(uses(*super, Op::SuperSend));
  auto put = compile("foo: a ^ a at: 1 put: 2");
  CHECK(uses(*put, Op::SendAtPut));
}

TEST_CASE("// is a special send with a send site for its slow path") {
  auto divide = compile("foo: a ^ 2.0 * a // 3");
  CHECK(count(*divide, Op::SendDoubleDivide) == 1);
  CHECK(sends(*divide, "//"));
  // A super send of // is an ordinary super send.
  auto super = compile("foo: a ^ super // a");
  CHECK_FALSE(uses(*super, Op::SendDoubleDivide));
  CHECK(uses(*super, Op::SuperSend));
}

TEST_CASE("PushTemp directly followed by a fused push and arithmetic send is one paired instruction") {
  auto paired = compile("foo | a b | a := 1. b := 2. ^ (a + b) + (a < 5) hash");
  CHECK(uses(*paired, Op::PushTempPushTempSendAdd));
  CHECK(uses(*paired, Op::PushTempPushSmallIntegerSendLess));
  CHECK_FALSE(uses(*paired, Op::PushTempSendAdd));
  // Sends without a paired form, and pushes other than PushTemp first, stay fused.
  auto fused = compile("foo: x | a b | a := 1. b := 2. ^ (a = b) | (x + a) | (a at: b)");
  CHECK(uses(*fused, Op::PushTempSendEqual));
  CHECK(uses(*fused, Op::PushTempSendAdd));
  CHECK(uses(*fused, Op::PushTempSendAt));
  // A jump landing on the second push (the ifFalse: branch falls into it) keeps them apart.
  auto joined = compile("foo: c | t u | t := 1. u := 2. ^ (c ifTrue: [ t ] ifFalse: [ u ]) + t");
  CHECK_FALSE(uses(*joined, Op::PushTempPushTempSendAdd));
  CHECK(uses(*joined, Op::PushTempSendAdd));
  // The operand stack holds both pushes of "a < 5" above "a + b" (the slow path pushes them).
  CHECK(paired->maxStack >= 3);
  // PushTemp then an argument: "k <= n" with n an argument.
  auto argument = compile("foo: n | k | k := 1. [ k <= n ] whileTrue: [ k := k + n ]. ^ k");
  CHECK(uses(*argument, Op::PushTempPushArgumentSendLessEqual));
  CHECK(uses(*argument, Op::PushTempPushArgumentSendAdd));
}

// compileMethod runs the verifier, which checks the generated code on its own terms (the
// opcode table): every method of the repository's Smalltalk is checked by something other
// than the generator. Code that does not verify is an internal CompileError.
TEST_CASE("every method and block of the repository's Smalltalk sources verifies") {
  namespace fs = std::filesystem;
  size_t files = 0, methods = 0;
  std::vector<std::string> refused;
  for (const char* directory : {"vm/kernel", "lib", "apps", "mop", "hypervisor", "benchmarks", "updates", "tests"}) {
    for (const auto& entry : fs::recursive_directory_iterator(fs::path(ESPELL_SOURCE_ROOT) / directory)) {
      if (entry.path().extension() != ".som") continue;
      std::ifstream in(entry.path(), std::ios::binary);
      std::stringstream text;
      text << in.rdbuf();
      std::string source = text.str();  // the parser keeps a view of it
      files++;
      try {
        Parser parser(source, entry.path().string());
        auto cls = parser.parseClass();
        for (bool classSide : {false, true}) {
          const auto& fields = classSide ? cls->classFields : cls->instanceFields;
          CompileContext context{entry.path().string(), cls->name, fields};
          for (auto& m : classSide ? cls->classMethods : cls->instanceMethods) {
            compileMethod(*m, context);
            methods++;
          }
        }
      } catch (const CompileError& e) {
        refused.push_back(entry.path().filename().string());
        CHECK_MESSAGE(e.message().rfind("internal:", 0) != 0, e.what());
      }
    }
  }
  std::sort(refused.begin(), refused.end());
  CHECK(refused == std::vector<std::string>{"CompileError.som", "CompileLimit.som"});  // the tests of refusals
  MESSAGE(methods, " methods of ", files, " files compiled and verified");
  CHECK(methods > 1500);
}

TEST_CASE("the verifier finds an operand past the frame, a stack underflow and a path off the end") {
  auto verify = [](const std::string& source, const std::function<void(CodeSpec&)>& damage) {
    Parser p(source, "t");
    auto m = p.parseMethod();
    auto code = compileMethod(*m, CompileContext{"t", "Test", {}});
    REQUIRE(verifyCode(*code, 0).empty());
    damage(*code);
    return verifyCode(*code, 0);
  };
  // "| t | t := 3. ^ t": PushSmallInteger 3, PopStoreTemp 0, PushTemp 0, ReturnTop.
  std::string source = "foo | t | t := 3. ^ t";
  CHECK(verify(source, [](CodeSpec& c) { c.numTemps = 0; }).find("past the 0 temporaries") != std::string::npos);
  CHECK(verify(source, [](CodeSpec& c) { c.bytecodes.pop_back(); }).find("runs off its end") != std::string::npos);
  CHECK(verify(source, [](CodeSpec& c) {
          c.bytecodes.insert(c.bytecodes.begin(), uint8_t(Op::Pop));
        }).find("pops 1 values of a stack of depth 0") != std::string::npos);
  CHECK(verify(source, [](CodeSpec& c) { c.maxStack = 0; }).find("exceeds the header's 0") != std::string::npos);
  CHECK(verify(source, [](CodeSpec& c) { c.tempNames.clear(); }).find("0 value names") != std::string::npos);
  CHECK(verify("foo | n | n := 0. ^ [n := n + 1]", [](CodeSpec& c) {
          c.vectorTemps.clear();
        }).find("is not among the code's temp vectors") != std::string::npos);
  CHECK(verify("foo: x ^ x > 0 ifTrue: [1] ifFalse: [2]", [](CodeSpec& c) {
          for (auto& b : c.bytecodes) {
            if (b == uint8_t(Op::Jump)) b = uint8_t(Op::Pop);  // the true branch falls into the false one
          }
        }).find("paths meet with stack depths") != std::string::npos);
}
