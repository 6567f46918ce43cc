#pragma once
#include <spdlog/logger.h>
#include <boost/asio.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "call.hpp"
#include "p2psip/media/rtp_relay.hpp"
#include "p2psip/nat/udp_path.hpp"
#include "p2psip/sip/registrar.hpp"
#include "p2psip/sip/ua.hpp"
#include "report.hpp"
#include "sdp_glue.hpp"

namespace p2psip::node {

// What a bridged call borrows from the gateway that owns it.
struct BridgeEnv {
    CallEnv& overlay;         // the node's own UA, DHT and identity: the overlay leg
    sip::UserAgent& lan;      // the registrar's UA: the phone leg
    std::string lan_address;  // where the phone-side media socket binds
    bool phone_srtp = true;   // offer SDES-SRTP to phones
    std::shared_ptr<spdlog::logger> log;
};

// One call between a registered LAN phone and the overlay, as a B2BUA (RFC 7092 §3.1):
// two dialogs, and media relayed between them. Toward the overlay the leg is a full p2psip
// call (DHT lookup, ICE, DTLS-SRTP bound to the node's key); toward the phone it is plain
// RTP or SDES-SRTP on the LAN. Payloads pass untouched when both legs use the same codec;
// only when they share none does the relay transcode. All on the io_context thread.
class Bridge : public std::enable_shared_from_this<Bridge> {
  public:
    using EndedFn = std::function<void(const CallReport&)>;

    // The phone's INVITE (authenticated) to `target` (an AOR or direct URI).
    static std::shared_ptr<Bridge> outgoing(BridgeEnv& env, std::shared_ptr<sip::Session> phone,
                                            const std::string& account_aor,
                                            const std::string& target, EndedFn ended);
    // An overlay INVITE for a registered AOR: forked to every contact of the phone(s).
    static std::shared_ptr<Bridge> incoming(BridgeEnv& env, std::shared_ptr<sip::Session> overlay,
                                            const std::vector<sip::Registration>& contacts,
                                            EndedFn ended);
    ~Bridge();

    void hangup(const std::string& why);
    bool ended() const { return ended_; }

  private:
    Bridge(BridgeEnv& env, EndedFn ended);
    std::shared_ptr<BridgeHooks> make_hooks();
    bool open_phone_socket();
    // Outgoing.
    void start_outgoing(std::shared_ptr<sip::Session> phone, const std::string& account_aor,
                        const std::string& target);
    void on_overlay_answered(const RemoteMedia& overlay);
    // Incoming.
    void start_incoming(std::shared_ptr<sip::Session> overlay,
                        const std::vector<sip::Registration>& contacts);
    void on_fork_answered(const std::shared_ptr<sip::Session>& fork, std::string_view answer);
    void on_fork_closed(const std::shared_ptr<sip::Session>& fork, int status,
                        const std::string& reason);
    void answer_overlay_if_ready();
    // Both.
    void watch_phone(const std::shared_ptr<sip::Session>& phone);
    void on_phone_reoffer(std::string_view offer, std::function<void(std::string)> respond);
    void on_overlay_media(const RemoteMedia& overlay, std::optional<media::SrtpKeyMaterial> tx,
                          std::optional<media::SrtpKeyMaterial> rx);
    void on_call_ended(const CallReport& report);
    void finish(CallReport report);

    BridgeEnv& env_;
    EndedFn ended_fn_;
    bool ended_ = false, outgoing_ = false;
    std::shared_ptr<Call> call_;  // the overlay leg
    std::shared_ptr<BridgeHooks> hooks_;
    std::shared_ptr<sip::Session> phone_;  // the phone leg (the winning fork, incoming)
    std::vector<std::shared_ptr<sip::Session>> forks_;
    std::size_t forks_closed_ = 0;
    int best_fork_status_ = 0;
    std::string best_fork_reason_;
    std::string phone_desc_;
    std::unique_ptr<nat::UdpPath> udp_;  // phone-side media socket
    LocalMedia phone_local_;
    RemoteMedia phone_remote_;
    std::string phone_offer_;                       // outgoing: the phone's INVITE SDP
    std::vector<sip::sdp::Codec> overlay_offered_;  // incoming: codecs the caller offered, ours
    bool phone_answered_ = false, overlay_ready_ = false;
    bool phone_rtcp_mux_ = true;
    // What we ask of the phone: sendonly while the far end holds the call (RFC 6337 §5.1).
    sip::sdp::Direction phone_want_ = sip::sdp::Direction::sendrecv;
    bool transcoding_ = false;
    std::unique_ptr<media::RtpRelay> relay_;
    std::optional<CallReport> overlay_report_;
};

}  // namespace p2psip::node
