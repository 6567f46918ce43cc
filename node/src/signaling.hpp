#pragma once
#include <spdlog/logger.h>
#include <boost/asio.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "options.hpp"
#include "p2psip/nat/stun_mapping.hpp"
#include "p2psip/overlay/dht_access.hpp"
#include "p2psip/overlay/inbox.hpp"
#include "p2psip/overlay/record.hpp"
#include "p2psip/sip/ua.hpp"

namespace p2psip::node {

namespace asio = boost::asio;

// How SIP reaches a phone behind a NAT (docs/protocol.md §5):
//  - the SIP socket's public mapping is learnt by STUN and kept open by repeating the
//    Binding (RFC 5626 §4.4.1); Contact and Via carry it and it is published first;
//  - this instance listens on its DHT inbox; what arrives there is handed to the SIP
//    transport as if it had come from the sender's socket;
//  - every SIP datagram sent to a known peer is also put, encrypted, into that peer's
//    inbox until a datagram from that peer has arrived directly. NATs that filter
//    unsolicited datagrams (all of them, RFC 4787 §5) drop the first direct INVITE; the
//    DHT copy gets through and the answer opens the direct path for what follows.
class Signaling {
  public:
    struct Stats {
        std::uint64_t relayed = 0;           // datagrams copied into a peer's inbox
        std::uint64_t copied = 0;            // datagrams copied to a peer's confirmed address
        std::uint64_t received_via_dht = 0;  // SIP messages that came through our inbox
        std::uint64_t confirmed = 0;         // peer addresses seen working directly
    };

    Signaling(asio::io_context& io, sip::UserAgent& ua, overlay::DhtAccess& dht,
              const PhoneOptions& options, std::string instance_id,
              std::shared_ptr<spdlog::logger> log);
    ~Signaling();
    Signaling(const Signaling&) = delete;
    Signaling& operator=(const Signaling&) = delete;

    // Hooks into the started UA's transport, starts the inbox and STUN. `ready` runs once:
    // when the public mapping is known or STUN gave up, at once without STUN.
    void start(std::function<void()> ready);
    void stop();
    // Runs when the public mapping changes after start (the binding must be republished).
    void on_contacts_changed(std::function<void()> fn) { contacts_changed_ = std::move(fn); }

    // SIP contacts to publish: the public one first, then the socket's own if different.
    std::vector<std::string> contacts() const;
    bool inbox_listening() const { return inbox_listening_; }
    std::optional<asio::ip::udp::endpoint> public_endpoint() const { return public_; }

    // Where to send an INVITE for this binding (the LAN contact when the peer is behind
    // our own NAT, else its first contact); remembers the peer's addresses and inbox.
    std::optional<sip::Uri> route_to(const overlay::Binding& binding);
    // SIP messages of this Call-ID that arrived through the DHT.
    std::size_t via_dht(const std::string& call_id) const;
    // "direct" once the peer at `ep` has been heard from directly, "dht" while its SIP
    // only arrives through the DHT, "direct" for a peer we know nothing about.
    std::string path_to(const asio::ip::udp::endpoint& ep) const;
    // The media path died in a way that suggests our address changed: learn the public
    // mapping again (republishing if it moved) and relay through the DHT again.
    void network_changed();
    const Stats& stats() const { return stats_; }

  private:
    using Endpoint = asio::ip::udp::endpoint;
    struct Peer {
        std::shared_ptr<const dht::crypto::PublicKey> key;
        std::string instance;
        dht::InfoHash rendezvous;  // the callee's AOR key: where this dialog's signals go
        std::vector<Endpoint> endpoints;
        std::set<Endpoint> confirmed;  // seen working directly
        std::map<std::size_t, std::chrono::steady_clock::time_point> recent;  // relayed bytes
        std::chrono::steady_clock::time_point used;
    };

    Peer& remember(std::shared_ptr<const dht::crypto::PublicKey> key, const std::string& instance,
                   const std::vector<Endpoint>& endpoints, const dht::InfoHash& rendezvous);
    bool on_raw(std::span<const uint8_t> datagram, const Endpoint& from);
    void on_sent(std::string_view datagram, const Endpoint& to);
    void on_signal(const overlay::Signal& signal);
    void on_mapping(std::error_code ec, const Endpoint& mapped);
    bool behind_same_nat(const asio::ip::address& peer_public) const;
    std::string public_contact() const;  // "IP:PORT"
    std::string lan_contact() const;

    asio::io_context& io_;
    sip::UserAgent& ua_;
    sip::UdpTransport* transport_ = nullptr;  // the UA's, set by start()
    overlay::DhtAccess& dht_;
    const PhoneOptions& options_;
    std::string instance_id_;
    dht::InfoHash own_key_;  // aor_key(our AOR): requests for us arrive there
    std::shared_ptr<spdlog::logger> log_;
    std::shared_ptr<overlay::Inbox> inbox_;
    std::shared_ptr<nat::StunMapping> stun_;
    std::optional<Endpoint> public_;
    std::function<void()> ready_, contacts_changed_;
    bool inbox_listening_ = false, copying_ = false, stopped_ = false;
    std::map<std::string, Peer> peers_;  // by key id + instance
    std::map<Endpoint, std::string> peer_by_endpoint_;
    std::map<std::string, std::size_t> via_dht_;  // Call-ID -> messages
    Stats stats_;
};

}  // namespace p2psip::node
