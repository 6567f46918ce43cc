#pragma once

#include <utility>  // before Boost.Asio (project convention)

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <system_error>

namespace p2psip::nat {

// Learns and keeps the public mapping (server-reflexive address) of a UDP socket that
// someone else owns, e.g. the SIP socket: RFC 5389 Binding requests to a STUN server,
// sent through `send`, repeated every `interval` so the NAT keeps the binding open
// (RFC 5626 §4.4.1 STUN keep-alive). Responses must be fed back with on_datagram().
// Runs on one io_context thread.
class StunMapping : public std::enable_shared_from_this<StunMapping> {
    struct Passkey {};

  public:
    using Endpoint = boost::asio::ip::udp::endpoint;
    using SendFn = std::function<void(std::span<const uint8_t>, const Endpoint& to)>;
    using MappingFn = std::function<void(std::error_code, const Endpoint& mapped)>;

    struct Config {
        Endpoint server;
        // NAT UDP bindings often expire after 30 s of silence (RFC 4787 REQ-5 asks >= 2 min,
        // many boxes do less); RFC 5626 §4.4.1 suggests 25 s for STUN keep-alives.
        std::chrono::milliseconds interval{25'000};
        std::chrono::milliseconds rto{250};  // first retransmission; doubles (RFC 5389 §7.2.1)
        unsigned max_retransmissions = 5;    // then stun_timeout is reported
    };

    static std::shared_ptr<StunMapping> create(boost::asio::io_context& io, Config config,
                                               SendFn send);
    StunMapping(Passkey, boost::asio::io_context& io, Config config, SendFn send);
    ~StunMapping();

    // Starts the first Binding now. `on_mapping` runs after every completed or failed
    // Binding: ({}, mapped) or (stun_timeout / stun_error, {}).
    void start(MappingFn on_mapping);
    void stop();
    // Starts a Binding now (unless one is in flight), e.g. when the network may have changed.
    void refresh();
    // True when `datagram` is a STUN message from the server (consumed, even if invalid).
    bool on_datagram(std::span<const uint8_t> datagram, const Endpoint& from);

    std::optional<Endpoint> mapped() const { return mapped_; }

    // RFC 7983 §7: a datagram whose first byte is 0-3 is STUN.
    static bool is_stun(std::span<const uint8_t> datagram);

  private:
    void begin_binding();
    void send_request();
    void finish(std::error_code ec, const Endpoint& mapped);

    boost::asio::io_context& io_;
    Config config_;
    SendFn send_;
    MappingFn on_mapping_;
    boost::asio::steady_timer timer_;
    std::array<uint8_t, 128> request_{};
    std::size_t request_size_ = 0;
    unsigned attempts_ = 0;
    bool in_flight_ = false, running_ = false;
    std::optional<Endpoint> mapped_;
    struct Agent;
    std::unique_ptr<Agent> agent_;  // libnice's STUN agent (remembers our transaction ids)
};

}  // namespace p2psip::nat
