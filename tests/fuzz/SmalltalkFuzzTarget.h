// SmalltalkFuzzTarget: what the libFuzzer targets of Smalltalk libraries share (the HTTP
// request parser, the JSON decoder). A runtime is booted once, with lib/Json, lib/Http and
// tests/fuzz (for FuzzDriver.som) on its class path; each input becomes a String bound to
// the global FuzzInput, and `FuzzDriver SELECTOR FuzzInput` runs it. The driver answers a
// String when the library accepted or refused the input with its own error class; any
// other outcome — an unexpected error class, a broken invariant the driver checks, a
// process that does not return — fails the target (abort, so libFuzzer saves the input).
// A hang is bounded by libFuzzer's -timeout (scripts/fuzz sets it).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "space/Handle.h"
#include "space/Space.h"
#include "vm/Objects.h"
#include "vm/Runtime.h"

#ifndef ESPELL_SOURCE_ROOT
#error "ESPELL_SOURCE_ROOT (the repository root) must be defined by the build"
#endif

namespace fuzz {

class SmalltalkFuzzTarget {
 public:
  // selector: a class-side method of FuzzDriver taking the input, e.g. "json:".
  explicit SmalltalkFuzzTarget(const std::string& selector) : space_(config()) {
    vm::RuntimeOptions options;
    options.name = "fuzz";
    options.classPath = {std::string(ESPELL_SOURCE_ROOT) + "/lib/Json", std::string(ESPELL_SOURCE_ROOT) + "/lib/Http",
                         std::string(ESPELL_SOURCE_ROOT) + "/tests/fuzz"};
    options.out = stdout;
    options.err = stderr;
    rt_ = std::make_unique<vm::Runtime>(space_, options);
    rt_->bootstrap();
    inputName_ = space::Handle(space_, rt_->symbol("FuzzInput"));
    source_ = "^ FuzzDriver " + selector + " FuzzInput";
  }

  // Runs one input; aborts the process when the outcome is not an accepted or refused input.
  void run(const uint8_t* data, size_t size) {
    {
      space::LocalRoot input(space_.localRoots(),
                             vm::newString(*rt_, std::string_view(reinterpret_cast<const char*>(data), size)));
      rt_->globals().atPut(inputName_.get(), input.get());
    }
    try {
      vm::Oop answer = rt_->evaluate(source_);
      if (!vm::isString(*rt_, answer)) fail("FuzzDriver answered " + vm::describeObject(*rt_, answer));
    } catch (const std::exception& e) {
      fail(e.what());
    }
    rt_->globals().atPut(inputName_.get(), rt_->nil());
  }

 private:
  static space::SpaceConfig config() {
    space::SpaceConfig c;
    c.name = "fuzz";
    c.reservationBytes = size_t(8) << 30;
    c.maxOldBytes = size_t(1) << 30;
    return c;
  }
  [[noreturn]] static void fail(const std::string& what) {
    std::fprintf(stderr, "fuzz target: unexpected outcome: %s\n", what.c_str());
    std::abort();
  }

  space::Space space_;
  std::unique_ptr<vm::Runtime> rt_;
  space::Handle inputName_;
  std::string source_;
};

}  // namespace fuzz
