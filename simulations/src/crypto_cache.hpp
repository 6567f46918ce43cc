#pragma once
#include <cstdint>

// Process-wide cache of OpenDHT public-key work, linked only into simulator programs
// (crypto_cache.cpp, docs/simulations.md "Crypto cache").
namespace p2psip::sim {

struct CryptoCacheStats {
    std::uint64_t lookups = 0;       // signature checks answered through the cache
    std::uint64_t verify_calls = 0;  // of those and the rest, real RSA verifications
    std::uint64_t keys = 0;          // distinct public keys seen
    std::uint64_t verdicts = 0;      // distinct (key, signed bytes, signature) verified
};

CryptoCacheStats crypto_cache_stats();
CryptoCacheStats& crypto_cache_stats_ref();

}  // namespace p2psip::sim
