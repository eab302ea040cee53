// UpdateScriptFuzzer: libFuzzer target for Chester's JSON update script reader. Any input
// must be read or refused with a ScriptError naming the place — never crash, hang, trip a
// sanitizer or escape as another exception (the reader runs before any guest is paused,
// on text that arrives through the control socket).
//
//   scripts/fuzz --only update --seconds 600
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "chester/ScriptError.h"
#include "chester/UpdateScript.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  chester::ScriptText script{"fuzz.json", std::string(reinterpret_cast<const char*>(data), size)};
  try {
    chester::JsonScript read = chester::readJsonScript(script);
    // A script that was read has a step operation for every step.
    for (const chester::Step& step : read.steps) {
      if (step.op.empty()) std::abort();
    }
  } catch (const chester::ScriptError& e) {
    if (std::string(e.what()).empty()) std::abort();
  }
  return 0;
}
