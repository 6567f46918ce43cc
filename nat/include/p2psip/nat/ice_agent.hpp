#pragma once

#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>  // before boost/asio (project convention)
#include <vector>

#include "p2psip/nat/candidate.hpp"

namespace p2psip::nat {

// STUN/TURN servers. Hosts must be numeric IP addresses (libnice does not resolve names here);
// empty host = not used.
struct IceServers {
    std::string stun_host;
    uint16_t stun_port = 0;  // 0 = 3478
    std::string turn_host;   // TURN over UDP
    uint16_t turn_port = 0;  // 0 = 3478
    std::string turn_user, turn_password;
};

struct IceConfig {
    bool controlling = false;
    // Restrict host candidates to these numeric addresses (e.g. {"127.0.0.1"}); empty = all
    // interfaces (libnice then skips loopback).
    std::vector<std::string> local_addresses;
    IceServers servers;
    uint16_t min_port = 0, max_port = 0;  // both 0 = any port
    // libnice STUN transaction tuning; 0 = libnice default (500 ms, 3 retransmissions).
    unsigned stun_initial_timeout_ms = 0;
    unsigned stun_max_retransmissions = 0;
};

enum class IceState { gathering, ready /*gathered*/, checking, connected, failed, closed };
std::string_view to_string(IceState s) noexcept;

// One ICE agent: one stream ("audio"), one component (rtcp-mux), UDP only, RFC 8445 regular
// nomination and RFC 7675 consent freshness. libnice runs on a GLib main loop on a thread
// owned by this agent; every result is posted into the io_context given to create().
//
// Threading: call the methods from the io_context thread (send() may be called from any
// thread). Callbacks run on the io_context thread. The io_context must outlive the agent.
class IceAgent : public std::enable_shared_from_this<IceAgent> {
    struct Passkey {};

  public:
    // Largest datagram delivered to on_receive(); larger ones are dropped and counted.
    static constexpr std::size_t kMaxDatagram = 2048;
    // Receive ring depth (datagrams buffered between the GLib thread and the io_context).
    static constexpr std::size_t kReceiveSlots = 128;

    // Validates the config, creates the libnice agent and starts its thread. Returns nullptr and
    // sets ec on failure (Errc::invalid_address, invalid_config, agent_init_failed).
    static std::shared_ptr<IceAgent> create(boost::asio::io_context& io, IceConfig config,
                                            std::error_code& ec);

    IceAgent(Passkey, boost::asio::io_context& io);  // use create()
    ~IceAgent();                                     // calls close()
    IceAgent(const IceAgent&) = delete;
    IceAgent& operator=(const IceAgent&) = delete;

    // Starts candidate gathering. `done` is always invoked exactly once, posted to the
    // io_context: {} when gathering finished (state -> ready), else gather_failed / invalid_state
    // (second call) / closed.
    void gather(std::function<void(std::error_code)> done);

    // Valid once gathering finished (empty before).
    IceCredentials local_credentials() const;
    std::vector<Candidate> local_candidates() const;

    // Gives the peer's ufrag/pwd and candidates and starts connectivity checks (state ->
    // checking). Allowed after gather() completed; may be called again to add candidates.
    // Non-UDP / FQDN candidates are skipped; if all given candidates are skipped the call fails
    // with Errc::unsupported_candidate. Other errors: invalid_credentials, invalid_state, closed.
    std::error_code set_remote(const IceCredentials& creds, const std::vector<Candidate>& cands);

    // State changes (deduplicated), posted to the io_context. `closed` is reported by close().
    void on_state(std::function<void(IceState)> cb);
    // Received application datagrams (STUN is consumed by libnice). Runs on the io_context
    // thread; the span is only valid during the call.
    void on_receive(std::function<void(std::span<const uint8_t>)> cb);

    // Sends one datagram on the selected pair. Thread-safe, non-blocking.
    // Errors: not_connected (state != connected), closed, send_failed.
    std::error_code send(std::span<const uint8_t> datagram);

    // e.g. "host 127.0.0.1:50000 <-> host 127.0.0.1:50002"; empty until a pair is selected.
    std::string selected_pair() const;

    IceState state() const noexcept;
    // Datagrams dropped because the receive ring was full or they exceeded kMaxDatagram.
    uint64_t dropped_datagrams() const noexcept;

    // Stops libnice (releases TURN allocations), joins the GLib thread and reports `closed`.
    // Idempotent; safe from callbacks; never waits on the io_context.
    void close();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace p2psip::nat
