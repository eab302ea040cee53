// RuntimeFixture: a bootstrapped space and runtime for VM unit tests, with the program's
// output captured.
#pragma once

#include <doctest/doctest.h>

#include <cstdio>
#include <memory>
#include <string>

#include "space/HeapVerifier.h"
#include "space/Space.h"
#include "vm/Objects.h"
#include "vm/Runtime.h"

namespace vm::test {

inline space::SpaceConfig testSpaceConfig() {
  space::SpaceConfig c;
  c.name = "test";
  c.edenBytes = 1 << 20;
  c.survivorBytes = 256 << 10;
  c.reservationBytes = size_t(4) << 30;
  c.maxOldBytes = size_t(1) << 30;
  return c;
}

struct RuntimeFixture {
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  space::Space space{testSpaceConfig()};
  std::unique_ptr<Runtime> rt;

  RuntimeFixture() {
    RuntimeOptions o;
    o.out = out;
    o.err = err;
    rt = std::make_unique<Runtime>(space, o);
    rt->bootstrap();
  }
  ~RuntimeFixture() {
    rt.reset();
    std::fclose(out);
    std::fclose(err);
  }

  // Evaluates statements (with optional temporaries) and answers the asString of the last
  // statement's value.
  std::string eval(const std::string& source) {
    Oop r = rt->evaluate("^ [ " + source + " ] value asString");
    REQUIRE(isString(*rt, r));
    return std::string(bytesOf(r));
  }
  std::string output() { return readAll(out); }
  std::string errors() { return readAll(err); }
  static std::string readAll(std::FILE* f) {
    std::fflush(f);
    std::rewind(f);
    std::string s;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
    return s;
  }
  void verify() {
    space::VerificationReport r = space::verifyHeap(space);
    INFO(r.summary());
    CHECK(r.ok());
  }
};

}  // namespace vm::test
