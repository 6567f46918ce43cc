#include "tls_check.hpp"

#include <fmt/format.h>
#include <opendht/crypto.h>

#include "p2psip/media/dtls_srtp.hpp"

namespace p2psip::node {

void TlsPeerCheck::expect(const Endpoint& peer, const dht::InfoHash& owner,
                          const std::string& aor) {
    expected_[peer] = {owner, aor};
    refused_.erase(peer);
    verified_.erase(peer);
}

void TlsPeerCheck::forget(const Endpoint& peer, const dht::InfoHash& owner) {
    if (auto it = expected_.find(peer); it != expected_.end() && it->second.owner == owner)
        expected_.erase(it);
}

std::error_code TlsPeerCheck::check(const Endpoint& peer, const std::vector<std::string>& chain) {
    auto it = expected_.find(peer);
    if (it == expected_.end()) return {};
    const auto& want = it->second;
    auto refuse = [&](std::string why) {
        refused_[peer] = fmt::format("TLS peer at {}:{} refused: {}", peer.address().to_string(),
                                     peer.port(), why);
        return std::make_error_code(std::errc::permission_denied);
    };
    // A p2psip node shows its ECDSA node certificate and the identity certificate that
    // issued it (the same pair as in DTLS, protocol.md §6.1).
    if (chain.size() < 2) return refuse("it sent no certificate issued by a DHT identity");
    auto bytes = [](const std::string& der) {
        return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(der.data()), der.size());
    };
    if (auto ec = media::verify_issued_by(bytes(chain[0]), bytes(chain[1])))
        return refuse("its certificate is not signed by the identity it sent (" + ec.message() +
                      ")");
    dht::InfoHash id;
    try {  // OpenDHT reports a certificate it cannot read by throwing
        const auto& der = chain[1];
        id = dht::crypto::Certificate(reinterpret_cast<const uint8_t*>(der.data()), der.size())
                 .getId();
    } catch (const std::exception& e) {
        return refuse(fmt::format("its identity certificate is unreadable ({})", e.what()));
    }
    if (id != want.owner)
        return refuse(fmt::format("its key {} is not the key {} that holds the DHT binding of {}",
                                  id.toString(), want.owner.toString(), want.aor));
    verified_[peer] = fmt::format("key {} holds the DHT binding of {}", id.toString(), want.aor);
    return {};
}

std::string TlsPeerCheck::refusal(const Endpoint& peer) const {
    auto it = refused_.find(peer);
    return it == refused_.end() ? std::string{} : it->second;
}

std::string TlsPeerCheck::verified(const Endpoint& peer) const {
    auto it = verified_.find(peer);
    return it == verified_.end() ? std::string{} : it->second;
}

}  // namespace p2psip::node
