#pragma once
#include <spdlog/logger.h>
#include <boost/asio.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "known_peers.hpp"
#include "options.hpp"
#include "p2psip/media/audio_device.hpp"
#include "p2psip/media/dtls_srtp.hpp"
#include "p2psip/media/session.hpp"
#include "p2psip/nat/ice_agent.hpp"
#include "p2psip/nat/udp_path.hpp"
#include "p2psip/overlay/dht_access.hpp"
#include "p2psip/overlay/lookup.hpp"
#include "p2psip/sip/ua.hpp"
#include "report.hpp"
#include "sdp_glue.hpp"
#include "signaling.hpp"
#include "tls_check.hpp"

namespace p2psip::node {

namespace asio = boost::asio;

// What a call borrows from the phone that owns it.
struct CallEnv {
    asio::io_context& io;
    sip::UserAgent& ua;
    overlay::DhtAccess& dht;
    const PhoneOptions& options;
    std::string local_aor;      // canonical
    bool audio_device = false;  // PortAudio has a default input and output
    std::shared_ptr<spdlog::logger> log;
    Signaling* signaling = nullptr;     // NAT-aware routes to peers; may be null in tools
    KnownPeers* known_peers = nullptr;  // keys of AORs called before; may be null
    // DTLS-SRTP with the node's DHT identity certificate; null: SDES only (tools).
    const media::DtlsCredentials* dtls = nullptr;
    std::string dtls_fingerprint;       // a=fingerprint value of that certificate
    TlsPeerCheck* tls_check = nullptr;  // SIP over TLS to nodes found in the DHT; may be null
    // OpenDHT sequence numbers for the node's puts, continued across restarts
    // (overlay::PublishConfig::next_value_seq); unset in tools.
    std::function<std::uint16_t()> next_value_seq = {};
};

// A call whose media the node relays for a LAN phone (B2BUA, gateway.hpp) instead of
// playing it: the overlay leg's codecs come from the phone, and once the path is keyed
// its (S)RTP goes to the bridge rather than to a MediaSession.
struct BridgeHooks {
    std::vector<sip::sdp::Codec> codecs;  // offered (outgoing) / accepted (incoming), in order
    std::string from_aor;                 // outgoing: the phone's AOR in From
    std::string from_display;
    std::function<void(int status, std::string_view reason)> on_progress;  // outgoing: 1xx
    std::function<void(const RemoteMedia&)> on_answered;  // outgoing: the callee answered
    // Incoming: ICE candidates gathered, answer() may be called now.
    std::function<void()> on_ready;
    // The path is ready and keyed: relay with these keys (nullopt = plaintext).
    std::function<void(const RemoteMedia&, std::optional<media::SrtpKeyMaterial> tx,
                       std::optional<media::SrtpKeyMaterial> rx)>
        on_media;
    std::function<void(std::span<const uint8_t>)> on_packet;  // RTP/RTCP from the path
    // The peer re-offered with another direction (hold / resume, RFC 6337).
    std::function<void(sip::sdp::Direction remote)> on_direction;
};

// An IPv4 or IPv6 address ("[::1]" too), not a host name.
bool is_ip_literal(const std::string& host);

// True when `target` names a host by IP address (sip:bob@192.0.2.7:5060): such a call
// goes straight to it, without the DHT.
bool is_direct_uri(const std::string& target);

// One call from dial (or incoming INVITE) to its report: DHT lookup, ICE gathering,
// the SIP dialog, ICE checks, SRTP media. All on the node's io_context thread.
class Call : public std::enable_shared_from_this<Call> {
  public:
    using EndedFn = std::function<void(const CallReport&)>;

    static std::shared_ptr<Call> dial(CallEnv& env, const std::string& target, EndedFn ended,
                                      std::shared_ptr<BridgeHooks> bridge = nullptr);
    static std::shared_ptr<Call> incoming(CallEnv& env, std::shared_ptr<sip::Session> session,
                                          EndedFn ended,
                                          std::shared_ptr<BridgeHooks> bridge = nullptr);
    ~Call();

    void answer();
    void hangup(const std::string& why = "hung up locally");
    // Incoming, not answered yet: refuse with this status (e.g. the bridged phone was busy).
    void reject(int status, const std::string& reason);
    // Queues RFC 4733 digits; a message for the user when they cannot be sent.
    std::string send_dtmf(const std::string& digits);
    // Hold (RFC 6337 §5.1: re-INVITE with a=sendonly, we stop sending) and resume
    // (a=sendrecv). A message for the user when it cannot be done now.
    std::string hold();
    std::string resume();
    bool on_hold() const { return holding_; }
    // Bridged calls: sends a datagram on the overlay path (the relay's output).
    void send_media(std::span<const uint8_t> packet) { send_datagram(packet); }
    // Bridged incoming calls: the phone rang.
    void ringing();
    bool ended() const { return ended_; }
    bool awaiting_answer() const { return incoming_ && !answered_ && !ended_; }
    const CallReport& report() const { return report_; }

  private:
    using Clock = std::chrono::steady_clock;
    Call(CallEnv& env, EndedFn ended);

    void start_dial(const std::string& target);
    void on_lookup(std::error_code ec, const overlay::LookupResult& result);
    void place_invite(const sip::Uri& contact, bool use_ice);
    void send_offer(const sip::Uri& contact);
    void on_answer_sdp(std::string_view sdp);
    void start_incoming(std::shared_ptr<sip::Session> session);
    void start_ice_checks(const char* sdp_kind);  // remote candidates in, checks and deadline on
    void on_ice_state(nat::IceState state);
    void start_media();  // the path is ready: DTLS first when negotiated, then the audio
    void start_dtls();
    void on_dtls_done(std::error_code ec, const media::DtlsSrtpResult& result);
    // The key behind the peer's certificate (its issuer's, if it sent one) against what we
    // know of the peer: the key holding the callee's DHT binding, or the key pinned for the
    // caller. Empty when it is acceptable, else why not.
    std::string check_peer_key(const media::DtlsSrtpResult& peer);
    void run_audio(std::optional<media::SrtpKeyMaterial> tx,
                   std::optional<media::SrtpKeyMaterial> rx, const std::string& suite);
    void on_datagram(std::span<const uint8_t> packet);    // RFC 7983 demultiplexing
    void send_datagram(std::span<const uint8_t> packet);  // on the current path
    void end(int status, const std::string& reason);
    bool make_ice(bool controlling, std::function<void()> gathered);
    std::shared_ptr<nat::IceAgent> new_ice_agent(bool controlling, std::error_code& ec);
    // ICE restart (RFC 8445 §2.4) through a re-INVITE when the media path dies, e.g. a
    // NAT that changed its mapping: new credentials and candidates, media moves to the
    // new agent once it connects.
    void watch_media();
    void start_ice_restart(const std::string& why);
    void on_reoffer(std::string_view offer, std::function<void(std::string)> respond);
    void adopt_pending_ice();
    std::shared_ptr<nat::IceAgent> begin_restart();  // the new agent, now pending_ice_
    void abandon_restart(const std::string& why);
    void note_pair(std::string pair);  // report: selected pair and its candidate types
    bool make_plain_path();            // for a peer without ICE
    void start_plain_media();
    void set_session_handlers();
    void change_direction(bool hold);
    void apply_direction();  // media follows local_.direction and remote_.direction
    double since_dial() const;
    std::weak_ptr<Call> weak() { return weak_from_this(); }

    CallEnv& env_;
    EndedFn ended_fn_;
    CallReport report_;
    Clock::time_point dial_at_ = Clock::now();
    std::optional<Clock::time_point> media_at_;
    bool incoming_ = false, answered_ = false, ended_ = false, ice_remote_set_ = false;
    bool gathered_ = false;               // outgoing: ICE candidates ready
    std::optional<sip::Uri> invite_to_;   // outgoing: where the INVITE goes once gathered
    std::optional<dht::InfoHash> owner_;  // outgoing: key that holds the callee's AOR
    std::shared_ptr<sip::Session> session_;
    std::optional<asio::ip::udp::endpoint> peer_ep_;  // where the peer's SIP comes from
    std::optional<asio::ip::udp::endpoint> tls_ep_;   // SIP over TLS to a DHT node: checked
    std::shared_ptr<nat::IceAgent> ice_;
    std::unique_ptr<nat::UdpPath> udp_;  // declared before media_: media sends through it
    LocalMedia local_;
    RemoteMedia remote_;
    std::string offer_;  // incoming: the peer's offer
    std::unique_ptr<media::DtlsSrtpSession> dtls_;
    std::vector<std::vector<uint8_t>> early_dtls_;  // DTLS datagrams before the path was ready
    std::unique_ptr<media::MediaSession> media_;
    asio::steady_timer ice_timer_, duration_timer_, watchdog_;
    asio::steady_timer retry_timer_;  // hold / resume again after a 491
    int direction_retries_ = 0;
    std::shared_ptr<nat::IceAgent> pending_ice_;  // ICE restart under way: the agent taking over
    std::shared_ptr<BridgeHooks> bridge_;
    bool holding_ = false;            // we put the peer on hold
    bool bridge_media_ = false;       // bridged: the relay has the path
    std::uint64_t rx_datagrams_ = 0;  // RTP/RTCP datagrams from the path (watchdog)
    std::uint64_t last_rx_packets_ = 0;
    Clock::time_point last_rx_change_ = Clock::now();
};

}  // namespace p2psip::node
