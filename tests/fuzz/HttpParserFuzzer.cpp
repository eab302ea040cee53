// HttpParserFuzzer: libFuzzer target for lib/Http's request parser (FuzzDriver
// class>>http:). Any input must parse into requests or be refused with an HttpError, and
// the same requests must come out whether it is fed at once or in pieces. See
// SmalltalkFuzzTarget.h and scripts/fuzz.
#include "tests/fuzz/SmalltalkFuzzTarget.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::SmalltalkFuzzTarget target("http:");
  target.run(data, size);
  return 0;
}
