// Sha256: see Sha256.h.
#include "image/Sha256.h"

#include <stdexcept>

namespace image {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(ctx_);
    throw std::runtime_error("SHA-256 unavailable");
  }
}

Sha256::~Sha256() {
  EVP_MD_CTX_free(ctx_);
}

Sha256::Digest Sha256::finish() {
  Digest d{};
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx_, d.data(), &n);
  return d;
}

std::string Sha256::hex(const Digest& d) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s;
  s.reserve(d.size() * 2);
  for (unsigned char c : d) {
    s += kDigits[c >> 4];
    s += kDigits[c & 15];
  }
  return s;
}

}  // namespace image
