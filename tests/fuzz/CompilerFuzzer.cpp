// CompilerFuzzer: libFuzzer target for the front end and the bytecode compiler. Any input
// must either compile (to code that passes the code verifier: compileMethod checks it)
// or raise a CompileError that is not an internal one — never crash, hang or trip a
// sanitizer.
//
//   scripts/fuzz --only compiler --seconds 600       (builds build-fuzz/ with clang first)
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "vm/compiler/CodeGenerator.h"
#include "vm/compiler/Parser.h"

namespace {

void compileAll(vm::ClassNode& cls) {
  vm::CompileContext instance{"fuzz.som", cls.name, cls.instanceFields};
  for (auto& m : cls.instanceMethods) vm::compileMethod(*m, instance);
  vm::CompileContext classSide{"fuzz.som", cls.name + " class", cls.classFields};
  for (auto& m : cls.classMethods) vm::compileMethod(*m, classSide);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  // The first byte chooses the entry point, the rest is the source.
  uint8_t mode = size > 0 ? data[0] % 3 : 0;
  std::string_view source = size > 0 ? text.substr(1) : text;
  try {
    vm::Parser parser(source, "fuzz.som");
    if (mode == 0) {
      auto cls = parser.parseClass();
      compileAll(*cls);
    } else if (mode == 1) {
      auto method = parser.parseMethod();
      vm::compileMethod(*method, vm::CompileContext{"fuzz.som", "Fuzz", {"a", "b"}});
    } else {
      auto doit = parser.parseDoIt("DoIt");
      vm::compileMethod(*doit, vm::CompileContext{"fuzz.som", "Fuzz", {}});
    }
  } catch (const vm::CompileError& e) {
    // Rejected with a located message: the expected outcome for bad input. An internal
    // error (the generator disagreeing with the analysis, code that does not verify) is
    // the compiler's fault, not the input's: a finding.
    if (e.message().rfind("internal:", 0) == 0) {
      std::fprintf(stderr, "%s\n", e.what());
      std::abort();
    }
  }
  return 0;
}
