#pragma once
#include <opendht/crypto.h>

#include <cstdint>
#include <system_error>
#include <vector>

namespace p2psip::sim {

// RSA identities derived from the seed (FIPS 186-4 provable generation, GnuTLS), so the
// same seed gives the same key ids and therefore the same run. Nodes share them
// round-robin: one key may hold many AORs, which the overlay allows. Generating and
// signing with RSA-3072 as the phone does would cost ~9 ms per signature; the default
// 1024-bit pool keeps 10k nodes well above real time (docs/simulations.md).
std::error_code make_identity_pool(std::uint64_t seed, std::uint32_t count, unsigned bits,
                                   std::vector<dht::crypto::Identity>& out);

}  // namespace p2psip::sim
