// A C++ application checking its license with licet's C ABI: the keyring parsed once and
// owned by a unique_ptr (its free function as deleter), the claims likewise, the time
// passed in. Build: c++ -std=c++17 -Iinclude examples/verify.cpp liblicet_c.a -lpthread -ldl -lm
//
// Usage: verify <signature.pem> <license file> [now]
// Prints the verdict, and the customer and features when the license is valid; exits 0
// only for a valid license. `now` defaults to the system clock (read here, by the
// application: the library never reads one).
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>

#include "licet.h"

namespace {

struct KeyringFree {
  void operator()(licet_keyring *k) const { licet_keyring_free(k); }
};
struct ClaimsFree {
  void operator()(licet_claims *c) const { licet_claims_free(c); }
};
using Keyring = std::unique_ptr<licet_keyring, KeyringFree>;
using Claims = std::unique_ptr<licet_claims, ClaimsFree>;

std::string read_file(const char *path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(std::string("cannot read ") + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string_view view(licet_str s) { return s.data ? std::string_view(s.data, s.len) : "(none)"; }

}  // namespace

int main(int argc, char **argv) {
  if (argc < 3 || argc > 4) {
    std::cerr << "usage: " << argv[0] << " <signature.pem> <license file> [now]\n";
    return 2;
  }
  try {
    const std::string pem = read_file(argv[1]);
    const std::string token = read_file(argv[2]);

    licet_keyring *raw_keyring = nullptr;
    licet_status status = licet_keyring_from_pem(pem.data(), pem.size(), &raw_keyring);
    Keyring keyring(raw_keyring);
    if (status != LICET_OK) {
      std::cerr << "signature.pem refused: " << licet_status_code(status) << "\n";
      return 1;
    }

    const std::string product = "acme-studio-pro";
    licet_expectations expect{};
    expect.kind = LICET_KIND_LICENSE;
    expect.product = product.data();
    expect.product_len = product.size();
    expect.now = argc == 4 ? std::stoull(argv[3]) : static_cast<uint64_t>(std::time(nullptr));
    expect.leeway = LICET_DEFAULT_LEEWAY;

    licet_claims *raw_claims = nullptr;
    status = licet_verify(keyring.get(), token.data(), token.size(), &expect, &raw_claims);
    Claims claims(raw_claims);
    if (status != LICET_OK) {
      std::cout << "license refused: " << licet_status_code(status) << "\n";
      return 1;
    }
    std::cout << "license valid for " << view(licet_claims_customer(claims.get())) << "\n";
    for (size_t i = 0; i < licet_claims_features_len(claims.get()); ++i)
      std::cout << "feature " << view(licet_claims_feature(claims.get(), i)) << "\n";
    const bool pdf = licet_claims_has_feature(claims.get(), "export-pdf", 10);
    std::cout << "export-pdf " << (pdf ? "enabled" : "disabled") << "\n";
    return 0;
  } catch (const std::exception &e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
}
