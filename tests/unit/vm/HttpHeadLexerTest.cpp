// The HTTP request-head lexer behind String>>httpHeadFrom:to:into: (vm/HttpHeadLexer.h):
// the positions it reports, each lexical error and which one is reported first, and heads
// at the edges (no header lines, empty values, obs-fold, a head without its last CRLF).
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "vm/HttpHeadLexer.h"

using namespace vm;
using namespace std::literals;

namespace {

// The parts lexHead reports, as strings: method, target, version, then name and value of
// each header line; plus its answer.
struct Lexed {
  int64_t answer = 0;
  std::vector<std::string> parts;
};

Lexed lex(std::string_view head) {
  std::map<size_t, size_t> positions;
  Lexed out;
  out.answer = http::lexHead(head, [&](size_t k, size_t offset) { positions[k] = offset; });
  for (size_t k = 0; positions.count(k) && positions.count(k + 1); k += 2) {
    REQUIRE(positions[k] <= positions[k + 1]);
    out.parts.emplace_back(head.substr(positions[k], positions[k + 1] - positions[k]));
  }
  return out;
}

}  // namespace

TEST_CASE("an HTTP head is lexed into request line parts and trimmed header fields") {
  Lexed l = lex("GET /repos/Zinc?x=1 HTTP/1.1\r\nHost: example.org\r\nUser-Agent:  curl/8 \t\r\nX-Empty:\r\n");
  CHECK(l.answer == 3);
  CHECK(l.parts == std::vector<std::string>{"GET", "/repos/Zinc?x=1", "HTTP/1.1", "Host", "example.org", "User-Agent",
                                            "curl/8", "X-Empty", ""});
  Lexed bare = lex("GET / HTTP/1.0\r\n");
  CHECK(bare.answer == 0);
  CHECK(bare.parts == std::vector<std::string>{"GET", "/", "HTTP/1.0"});
  // The version is not checked here (the parser answers 505 or 400), only that it has no space.
  CHECK(lex("GET / HTTP/9.9\r\n").answer == 0);
  CHECK(lex("GET / \r\n").answer == 0);
  CHECK(lex("GET / \r\n").parts[2].empty());
  // A value keeps inner spaces and any byte but NUL, CR and LF.
  Lexed v = lex("GET / HTTP/1.1\r\nA: x  y\x01\xff\r\n");
  CHECK(v.answer == 1);
  CHECK(v.parts[4] == "x  y\x01\xff");
}

TEST_CASE("malformed line ends, NUL and request lines are refused") {
  for (std::string_view head : {
           std::string_view("GET / HTTP/1.1\n"),          // LF alone
           std::string_view("GET / HTTP/1.1\r\nA: b\n"),  // LF alone ends a header
           std::string_view("GET / HTTP/1.1\rA: b\r\n"),  // CR not before LF
           std::string_view("GET / HTTP/1.1\r\nA: b\r"),  // no final LF
           "GET / HTTP/1.1\r\nA: \0\r\n"sv,               // NUL in a value
           "GET /\0 HTTP/1.1\r\n"sv,                      // NUL in the target
           std::string_view(" / HTTP/1.1\r\n"),           // empty method
           std::string_view("GET  / HTTP/1.1\r\n"),       // empty target
           std::string_view("GET / HTTP/1.1 \r\n"),       // a third space
           std::string_view("GET\r\n"),                   // one part
           std::string_view("GET /\r\nA: b c\r\n"),       // two parts (the space is in a header)
           std::string_view("G(T / HTTP/1.1\r\n"),        // method not a token
           std::string_view("GET /\x7f HTTP/1.1\r\n"),    // target not visible ASCII
           std::string_view("GET /\x80 HTTP/1.1\r\n"),
           std::string_view("GET /a\tb HTTP/1.1\r\n"),
           std::string_view(""),
           std::string_view("\r\n"),
       }) {
    CAPTURE(std::string(head));
    CHECK(lex(head).answer == http::kHeadMalformed);
  }
}

TEST_CASE("malformed header lines are refused after the request line is reported") {
  for (std::string_view head : {
           std::string_view("GET / HTTP/1.1\r\nNo colon\r\n"),
           std::string_view("GET / HTTP/1.1\r\n: empty name\r\n"),
           std::string_view("GET / HTTP/1.1\r\nBad name: x\r\n"),      // a space in the name
           std::string_view("GET / HTTP/1.1\r\nA: x\r\n folded\r\n"),  // obs-fold
           std::string_view("GET / HTTP/1.1\r\nA: x\r\n\r\n"),         // an empty line inside
           std::string_view("GET / HTTP/1.1\r\nA(b): x\r\n"),
       }) {
    CAPTURE(std::string(head));
    Lexed l = lex(head);
    CHECK(l.answer == http::kHeadFieldMalformed);
    REQUIRE(l.parts.size() >= 3);
    CHECK(l.parts[0] == "GET");
    CHECK(l.parts[1] == "/");
  }
  // Line ends are checked before anything else, the request line before the headers.
  CHECK(lex("GET / HTTP/1.1\r\nNo colon\n").answer == http::kHeadMalformed);
  CHECK(lex("G(T / HTTP/1.1\r\nNo colon\r\n").answer == http::kHeadMalformed);
}
