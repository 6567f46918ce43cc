#include "identity_pool.hpp"

#include <gnutls/x509.h>

#include <array>

namespace p2psip::sim {

std::error_code make_identity_pool(std::uint64_t seed, std::uint32_t count, unsigned bits,
                                   std::vector<dht::crypto::Identity>& out) {
    out.clear();
    for (std::uint32_t i = 0; i < count; ++i) {
        std::array<unsigned char, 32> material{};
        for (int b = 0; b < 8; ++b) {
            material[b] = static_cast<unsigned char>(seed >> (8 * b));
            material[8 + b] = static_cast<unsigned char>(static_cast<std::uint64_t>(i) >> (8 * b));
        }
        gnutls_x509_privkey_t key = nullptr;
        if (gnutls_x509_privkey_init(&key) < 0)
            return std::make_error_code(std::errc::not_enough_memory);
        gnutls_keygen_data_st data{GNUTLS_KEYGEN_SEED, material.data(),
                                   static_cast<unsigned>(material.size())};
        if (gnutls_x509_privkey_generate2(key, GNUTLS_PK_RSA, bits, GNUTLS_PRIVKEY_FLAG_PROVABLE,
                                          &data, 1) < 0) {
            gnutls_x509_privkey_deinit(key);
            return std::make_error_code(std::errc::invalid_argument);
        }
        try {  // OpenDHT throws on crypto failures; keep it inside this function.
            auto priv = std::make_shared<dht::crypto::PrivateKey>(key);
            auto cert = std::make_shared<dht::crypto::Certificate>(
                dht::crypto::Certificate::generate(*priv, "p2psip-sim-" + std::to_string(i)));
            out.emplace_back(std::move(priv), std::move(cert));
        } catch (const std::exception&) {
            return std::make_error_code(std::errc::invalid_argument);
        }
    }
    return {};
}

}  // namespace p2psip::sim
