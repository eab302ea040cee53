// JsonDecoderFuzzer: libFuzzer target for lib/Json's decoder (FuzzDriver class>>json:).
// Any input must decode or be refused with a JsonError; a decoded value must come out of
// encode -> decode -> encode unchanged. See SmalltalkFuzzTarget.h and scripts/fuzz.
#include "tests/fuzz/SmalltalkFuzzTarget.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::SmalltalkFuzzTarget target("json:");
  target.run(data, size);
  return 0;
}
