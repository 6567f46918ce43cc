#pragma once
#include <spdlog/logger.h>
#include <boost/asio.hpp>

#include <memory>
#include <string>

#include "call.hpp"
#include "gateway.hpp"
#include "options.hpp"
#include "p2psip/overlay/publisher.hpp"
#include "p2psip/overlay/routing_refresh.hpp"
#include "p2psip/overlay/runner_dht.hpp"
#include "p2psip/sip/ua.hpp"

namespace p2psip::node {

// A running phone: its identity, its DHT node and binding, its SIP user agent, and at
// most one call at a time (a second incoming call gets 486 Busy Here).
class Phone {
  public:
    Phone(asio::io_context& io, PhoneOptions options, std::shared_ptr<spdlog::logger> log);
    ~Phone();

    // Loads or creates the identity, joins the DHT, binds SIP, starts publishing.
    // On failure returns a message for the user.
    std::string start();

    void dial(const std::string& target);
    void answer();
    void hangup();
    void send_dtmf(const std::string& digits);
    void hold();
    void resume();
    // RFC 3428 instant message to an AOR (looked up in the DHT) or a direct URI.
    void send_message(const std::string& target, const std::string& text);
    void quit(int exit_code);  // withdraws the binding, then stops the io_context
    std::string status() const;
    int exit_code() const { return exit_code_; }

  private:
    void publish_when_joined(int attempts_left);
    void on_incoming(std::shared_ptr<sip::Session> session);
    void on_call_ended(const CallReport& report);
    void print_report(const CallReport& report);
    void send_message_to(const sip::Uri& uri, const std::string& to_aor, const std::string& text);

    asio::io_context& io_;
    PhoneOptions options_;
    std::shared_ptr<spdlog::logger> log_;
    std::string aor_;
    media::DtlsCredentials dtls_;  // the identity's certificate and key, PEM
    std::string dtls_fingerprint_;
    std::unique_ptr<overlay::RunnerDht> dht_;
    std::unique_ptr<overlay::RoutingRefresh> routing_refresh_;  // after dht_: stops first
    std::unique_ptr<sip::UserAgent> ua_;
    std::unique_ptr<Signaling> signaling_;
    TlsPeerCheck tls_check_;  // SIP over TLS: the peer's certificate against the DHT
    std::unique_ptr<KnownPeers> known_peers_;  // after ua_: unhooks from its transport first
    std::string instance_id_;
    std::uint16_t value_seq_ = 0;  // last OpenDHT sequence number used, also in value-seq
    bool addresses_ready_ = false;  // STUN done (or not configured)
    std::unique_ptr<CallEnv> env_;
    std::shared_ptr<overlay::BindingPublisher> publisher_;
    std::shared_ptr<Call> call_;
    std::unique_ptr<Gateway> gateway_;  // registrar + B2BUA for phones (--config accounts)
    asio::steady_timer join_timer_, quit_timer_;
    bool quitting_ = false;
    bool dial_pending_ = false;  // --call waits for the DHT before dialing
    int exit_code_ = 0;
};

}  // namespace p2psip::node
