// HttpHeadLexer: the byte-level part of reading an HTTP/1.x request head, behind the
// primitive String>>httpHeadFrom:to:into: (lib/Http's HttpRequestParser). It checks only
// what is lexical — line ends, NUL, the request line's three parts, each header line's name
// — and reports where the parts are; what they mean (versions, which headers count, limits,
// status codes) is decided in Smalltalk, where a live update can change it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace vm::http {

// What lexHead answers when it does not answer the number of header lines.
enum HeadLexError : int64_t {
  // A CR not followed by LF, an LF not after a CR, a NUL, or a request line that is not
  // three parts separated by single spaces with a token method and a visible-ASCII target.
  kHeadMalformed = -1,
  // A header line without a colon, with an empty name, or with a name that is not a token.
  // The request line was well formed and its positions were reported.
  kHeadFieldMalformed = -2,
};

// tchar of RFC 9110 5.6.2: ! # $ % & ' * + - . ^ _ ` | ~ DIGIT ALPHA.
constexpr std::array<bool, 256> kTokenBytes = [] {
  std::array<bool, 256> t{};
  for (int b = '0'; b <= '9'; b++) t[size_t(b)] = true;
  for (int b = 'a'; b <= 'z'; b++) t[size_t(b)] = true;
  for (int b = 'A'; b <= 'Z'; b++) t[size_t(b)] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[uint8_t(c)] = true;
  return t;
}();

// Lexes [head]: a request line and header lines, each ending in CRLF (the empty line that
// ends a head is not part of it). Reports positions as put(k, offset), offsets 0-based
// into head and each part the half-open range [begin, end): k = 0, 1 the method, 2, 3 the
// target, 4, 5 the version; then for header line i (from 0) k = 6 + 4i, 7 + 4i its name
// and 8 + 4i, 9 + 4i its value without the spaces and tabs around it. Answers the number
// of header lines, or a HeadLexError; the checks run in the order the head's bytes come
// (line ends and NUL first, then the request line, then each header line), so an error
// answer says which part failed first.
template <class Put>
int64_t lexHead(std::string_view head, Put&& put) {
  const auto* p = reinterpret_cast<const uint8_t*>(head.data());
  size_t n = head.size();
  // 1. Every CR starts a CRLF and every LF ends one; no NUL; the head ends with CRLF.
  if (n < 2 || p[n - 1] != '\n') return kHeadMalformed;
  for (size_t i = 0; i < n; i++) {
    uint8_t b = p[i];
    if (b > '\r') continue;
    if (b == 0) return kHeadMalformed;
    if (b == '\r' && (i + 1 == n || p[i + 1] != '\n')) return kHeadMalformed;
    if (b == '\n' && (i == 0 || p[i - 1] != '\r')) return kHeadMalformed;
  }
  // 2. The request line: method SP target SP version, each part non-empty but the version.
  size_t lineEnd = head.find('\r');
  size_t sp1 = head.find(' ');
  if (sp1 == 0 || sp1 >= lineEnd) return kHeadMalformed;
  size_t sp2 = head.find(' ', sp1 + 1);
  if (sp2 >= lineEnd || sp2 == sp1 + 1) return kHeadMalformed;
  if (head.find(' ', sp2 + 1) < lineEnd) return kHeadMalformed;
  for (size_t i = 0; i < sp1; i++) {
    if (!kTokenBytes[p[i]]) return kHeadMalformed;
  }
  for (size_t i = sp1 + 1; i < sp2; i++) {
    if (p[i] <= ' ' || p[i] >= 127) return kHeadMalformed;
  }
  put(0, 0);
  put(1, sp1);
  put(2, sp1 + 1);
  put(3, sp2);
  put(4, sp2 + 1);
  put(5, lineEnd);
  // 3. Header lines: name ":" OWS value OWS.
  int64_t count = 0;
  for (size_t pos = lineEnd + 2; pos < n; pos = lineEnd + 2) {
    lineEnd = head.find('\r', pos);  // there is one: the head ends with CRLF
    size_t colon = head.find(':', pos);
    if (colon == pos || colon >= lineEnd) return kHeadFieldMalformed;
    for (size_t i = pos; i < colon; i++) {
      if (!kTokenBytes[p[i]]) return kHeadFieldMalformed;
    }
    size_t vs = colon + 1, ve = lineEnd;
    while (vs < ve && (p[vs] == ' ' || p[vs] == '\t')) vs++;
    while (ve > vs && (p[ve - 1] == ' ' || p[ve - 1] == '\t')) ve--;
    size_t k = 6 + 4 * size_t(count);
    put(k, pos);
    put(k + 1, colon);
    put(k + 2, vs);
    put(k + 3, ve);
    count++;
  }
  return count;
}

}  // namespace vm::http
