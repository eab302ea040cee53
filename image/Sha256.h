// Sha256: an incremental SHA-256 (OpenSSL EVP). Created and started on construction, so
// that add() and finish() allocate nothing and take no lock: a forked child may use one
// made by its parent.
#pragma once

#include <openssl/evp.h>

#include <array>
#include <cstddef>
#include <string>

namespace image {

class Sha256 {
 public:
  using Digest = std::array<unsigned char, 32>;

  Sha256();  // throws std::runtime_error when SHA-256 is unavailable
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void add(const void* data, size_t n) { EVP_DigestUpdate(ctx_, data, n); }
  // The digest of everything added; the object is used up.
  Digest finish();

  static std::string hex(const Digest& d);

 private:
  EVP_MD_CTX* ctx_;
};

}  // namespace image
