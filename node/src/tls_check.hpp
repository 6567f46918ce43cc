#pragma once
#include <opendht/infohash.h>

#include <utility>  // before Boost.Asio (project convention)

#include <boost/asio/ip/udp.hpp>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace p2psip::node {

// SIP over TLS between p2psip nodes, bound to the DHT identity (protocol.md §6.2): before a
// caller sends its INVITE on a TLS connection to a contact it found in a DHT binding, the
// certificate chain the other end presented must be the node certificate issued by the
// key that holds that binding. TlsTransport calls check() when a handshake completes; a
// refusal closes the connection before any SIP is sent, and the call ends with the reason.
class TlsPeerCheck {
  public:
    using Endpoint = boost::asio::ip::udp::endpoint;

    // The next TLS connection to `peer` must show a chain issued by `owner` (the key that
    // holds `aor` in the DHT).
    void expect(const Endpoint& peer, const dht::InfoHash& owner, const std::string& aor);
    // Drops the expectation for `peer` if it is still this owner's (calls may overlap).
    void forget(const Endpoint& peer, const dht::InfoHash& owner);

    // `chain`: DER certificates, leaf first. {} = accepted (also when nothing is expected:
    // incoming connections and direct URIs).
    std::error_code check(const Endpoint& peer, const std::vector<std::string>& chain);

    // Why the last connection to `peer` was refused ("" if it was not), and what was
    // verified for an accepted one.
    std::string refusal(const Endpoint& peer) const;
    std::string verified(const Endpoint& peer) const;

  private:
    struct Expectation {
        dht::InfoHash owner;
        std::string aor;
    };
    std::map<Endpoint, Expectation> expected_;
    std::map<Endpoint, std::string> refused_, verified_;
};

}  // namespace p2psip::node
