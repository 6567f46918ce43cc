#pragma once

#include <utility>  // before Boost.Asio (project convention)

#include <boost/asio.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "p2psip/sip/dialog.hpp"
#include "p2psip/sip/message.hpp"
#include "p2psip/sip/tcp_transport.hpp"
#include "p2psip/sip/transaction.hpp"
#include "p2psip/sip/uri.hpp"

namespace p2psip::sip {

namespace asio = boost::asio;

struct UaConfig {
    std::string bind_address = "127.0.0.1";
    uint16_t port = 0;  // 0 = ephemeral
    std::string aor;    // e.g. sip:alice@example.org
    std::string display_name;
    std::string user_agent = "p2psip/0.1";
    std::chrono::milliseconds t1{500};
    std::chrono::milliseconds t2{4000};
    std::chrono::milliseconds t4{5000};
    // Host written in Contact and Via; empty = bind_address (set it when binding 0.0.0.0).
    std::string advertised_address;
    uint16_t advertised_port = 0;  // 0 = the bound port
    // Also listen on TCP, on the same address and port number as UDP (RFC 3261 §18). Calls
    // to a Request-URI with ";transport=tcp" need it.
    bool tcp = true;
    TcpConfig tcp_config;  // message size and idle connection limits (TCP and TLS)
    // Also listen on TLS (RFC 3261 §26.2; own port, 0 = ephemeral) with this certificate.
    // Request-URIs with ";transport=tls" or the sips scheme are then called over TLS; the
    // peer's key is TlsTransport::peer_public_key(session->remote_endpoint()).
    std::optional<TlsCredentials> tls;
    uint16_t tls_port = 0;
};

// Extra header fields for a response or request: {name, value}, written in this order.
using HeaderList = std::vector<std::pair<std::string, std::string>>;

// A response chosen by the application (out-of-dialog request hook, registrar challenges).
// `reason` empty = the default phrase; `content_type` is set with a non-empty body.
struct ResponseSpec {
    int status = 200;
    std::string reason;
    HeaderList headers;
    std::string content_type;
    std::string body;
};

// Options of an outgoing INVITE (UserAgent::invite), e.g. for a B2BUA leg that shows the
// original caller.
struct InviteOptions {
    std::string from_aor;      // "" = UaConfig::aor; e.g. the original caller's AOR
    std::string from_display;  // display name in From ("" = UaConfig::display_name)
    HeaderList headers;        // extra headers on the INVITE (after the standard ones)
};

// Callbacks of one call. All run on the io_context thread. on_closed runs exactly once per
// session, whatever ended it:
//   failure response      -> its status and reason phrase (486 "Busy Here", 487 after CANCEL)
//   no answer (Timer B)   -> 408 "Request Timeout"
//   BYE (either side)     -> 200 "Remote hangup" / "Local hangup"
//   CANCEL received (UAS) -> 487 "Cancelled by caller"
//   reject()/hangup() UAS -> the status sent, "Rejected: <reason>"
//   no ACK for our 2xx    -> 408 "No ACK received" (a BYE is sent; also for the 2xx to a
//                            re-INVITE)
//   481 / 408 to our re-INVITE -> that status (after its `done`, RFC 3261 §12.2.1.2)
struct SessionHandlers {
    std::function<void(int status, std::string_view reason)> on_progress;  // 1xx (UAC)
    std::function<void(std::string_view remote_sdp)> on_established;       // 2xx+ACK
    std::function<void(int status, std::string reason)> on_closed;
    // re-INVITE received in a confirmed dialog (RFC 3261 §14.2), either role. Called with
    // the new offer (empty view for a re-INVITE without body); returns the SDP for our 200
    // OK (the answer, or our offer when the re-INVITE had none; the answer is then taken
    // from the ACK), or "" to reject with 488 Not Acceptable Here (the dialog stays up).
    // Unset -> 488. When a 200 is sent, remote_sdp() (= the offer) and local_sdp() (= the
    // returned SDP) are updated at once; the 200 is retransmitted until its ACK arrives
    // (§13.3.1.4; no ACK within 64*T1 -> BYE, on_closed 408 "No ACK received").
    // Another re-INVITE arriving while we wait for our own re-INVITE's answer gets 491;
    // while our 200 to the previous one waits for its ACK (or before the initial INVITE
    // was ACKed) it gets 500 + Retry-After 0-10 s (§14.2).
    // Asynchronous: the handler calls `respond` exactly once, now or later (e.g. after ICE
    // gathering for an ICE restart); the transaction sends 100 Trying meanwhile. If the
    // dialog ended before `respond`, the re-INVITE gets 487.
    std::function<void(std::string_view offer, std::function<void(std::string sdp)> respond)>
        on_reoffer;
    // INFO in the dialog (RFC 6086 "legacy" use, RFC 2976: no Info-Package header): its
    // Content-Type and body; answered 200. An INFO naming an Info-Package gets 469 (we
    // support none, RFC 6086 §4.2.2).
    std::function<void(std::string_view content_type, std::string_view body)> on_info;
};

// A pager-mode instant message (RFC 3428) received outside any dialog.
struct InstantMessage {
    std::string from_aor;      // canonical AOR of From
    std::string content_type;  // e.g. "text/plain;charset=utf-8"
    std::string body;
};

namespace detail {
class UaCore;
}

// One INVITE dialog, either side. Methods must be called on the io_context thread; they
// are no-ops in states where they do not apply.
class Session : public std::enable_shared_from_this<Session> {
  public:
    enum class Role { uac, uas };
    enum class State {
        calling,      // UAC: INVITE sent, no provisional yet
        incoming,     // UAS: INVITE received, not answered
        early,        // 1xx with tag received (UAC) or sent (UAS)
        accepted,     // UAS: 2xx sent, waiting for ACK
        confirmed,    // established
        terminating,  // BYE / CANCEL sent, waiting for its outcome
        terminated,
    };

    Session(std::weak_ptr<detail::UaCore> core, Role role);

    void set_handlers(SessionHandlers handlers);
    Role role() const { return role_; }
    State state() const { return state_; }
    const Message* request() const;  // the INVITE (UAS side), nullptr on the UAC side
    std::string remote_sdp() const { return remote_sdp_; }
    std::string local_sdp() const { return local_sdp_; }
    std::string to_aor() const { return to_aor_; }      // canonical AOR of To
    std::string from_aor() const { return from_aor_; }  // canonical AOR of From
    std::string from_display() const { return from_display_; }
    std::string call_id() const { return call_id_; }
    const std::optional<Dialog>& dialog() const { return dialog_; }
    const UdpEndpoint& remote_endpoint() const { return remote_ep_; }  // INVITE source / target
    // Transport of the dialog: the one the INVITE came on (UAS) or its Request-URI named
    // (UAC, ";transport=tcp"). In-dialog requests use it unless their target URI names one.
    TransportKind transport_kind() const { return transport_; }

    void ringing();                             // UAS: 180
    void accept(std::string sdp_answer);        // UAS: 200 + SDP, retransmitted until ACK
    void reject(int code, std::string reason);  // UAS: 3xx-6xx
    // UAS: 3xx-6xx with extra header fields, e.g. 407 + Proxy-Authenticate (RFC 3261 §22.3)
    // or 3xx + Contact.
    void reject(int code, std::string reason, HeaderList extra_headers);
    void hangup();  // UAC early: CANCEL; confirmed: BYE; UAS early: 603

    // re-INVITE (RFC 3261 §14.1), either role, only in state confirmed: INVITE in the dialog
    // (CSeq+1, route set, remote target, our current Contact) with `sdp_offer`. done runs
    // once on the io_context thread:
    //   2xx          -> done(status, answer); the ACK is sent (and re-sent for 2xx
    //                   retransmissions), local_sdp() = offer and remote_sdp() = answer
    //                   (unchanged when the 2xx has no body), remote target refreshed
    //   491          -> done(491, ""): glare; the caller retries after a random delay
    //                   (§14.1: 2.1-4 s if it owns the Call-ID, i.e. role() == uac, else 0-2 s)
    //   481, 408     -> done(status, "") then the dialog ends: on_closed(status, reason)
    //                   (a BYE is also attempted after 408)
    //   other >= 300 -> done(status, ""); dialog and SDPs unchanged
    //   session ends before the final response (BYE either way) -> done(487, "") just
    //                   before on_closed
    // Refused without sending anything (done posted): not confirmed, empty offer or UA not
    // started -> done(500, ""); another re-INVITE (ours or the peer's) still pending ->
    // done(491, ""). After UserAgent::stop() or its destruction done is not called.
    void reinvite(std::string sdp_offer,
                  std::function<void(int status, std::string answer_sdp)> done);
    // INFO in a confirmed dialog (RFC 6086 legacy use). done(final status) once; 0 if the
    // dialog is not confirmed (nothing sent).
    void info(std::string content_type, std::string body, std::function<void(int status)> done);

  private:
    friend class detail::UaCore;
    friend class UserAgent;

    void close(int status, std::string reason);
    void send_cancel();
    void send_bye();
    void on_invite_response(const Message& r);
    void on_2xx_retransmission(const Message& r);
    void on_ack(const Message& ack);
    void on_bye(const std::shared_ptr<ServerTransaction>& txn, const Message& bye);
    void on_cancel();
    void retransmit_2xx(unsigned gen);
    void start_2xx_retransmission(std::string wire, const Message& req, const Destination& src);
    void on_reinvite(const std::shared_ptr<ServerTransaction>& txn, const Message& req);
    void answer_reinvite(const std::shared_ptr<ServerTransaction>& txn, const Message& req,
                         std::string sdp);
    void on_reinvite_response(const Message& r);
    void finish_reinvite(int status, std::string answer);
    Destination in_dialog_destination() const;

    std::weak_ptr<detail::UaCore> core_;
    Role role_;
    State state_;
    SessionHandlers handlers_;
    std::string key_;  // call-id;local-tag
    std::string call_id_, local_tag_;
    std::string to_aor_, from_aor_, from_display_;
    std::string remote_sdp_, local_sdp_;
    std::optional<Dialog> dialog_;
    UdpEndpoint remote_ep_;
    TransportKind transport_ = TransportKind::udp;
    // UAC
    std::shared_ptr<ClientTransaction> invite_txn_;
    uint32_t invite_cseq_ = 0;
    bool got_provisional_ = false;
    bool cancel_requested_ = false;
    std::string ack_wire_;
    Destination ack_dest_;
    // UAS
    std::optional<Message> request_;
    std::shared_ptr<ServerTransaction> server_txn_;
    std::string ok_wire_;  // our 2xx, for §13.3.1.4 retransmission
    Destination ok_dest_;
    bool bye_after_ack_ = false;
    std::chrono::milliseconds ok_interval_{};
    std::unique_ptr<asio::steady_timer> ok_timer_, ok_timeout_;
    bool ok_pending_ = false;       // a 2xx of ours (INVITE or re-INVITE) waits for its ACK
    uint32_t ok_cseq_ = 0;          // CSeq of the INVITE that 2xx answers
    unsigned ok_gen_ = 0;           // invalidates timer handlers of an earlier 2xx
    bool ok_wants_answer_ = false;  // offerless re-INVITE: our 200 had the offer
    bool reoffer_running_ = false;  // on_reoffer has not responded yet
    // Our re-INVITE (either role)
    std::shared_ptr<ClientTransaction> reinvite_txn_;
    std::function<void(int, std::string)> reinvite_done_;
    bool reinvite_out_ = false;  // waiting for its final response
    uint32_t reinvite_cseq_ = 0;
    std::string reinvite_offer_;
    std::string reack_wire_;  // ACK of the last re-INVITE 2xx
    uint32_t reack_cseq_ = 0;
    Destination reack_dest_;
};

// The UA core (RFC 3261 §8, §13-15) over UDP and TCP.
class UserAgent {
  public:
    UserAgent(asio::io_context& io, UaConfig config);
    ~UserAgent();
    UserAgent(const UserAgent&) = delete;
    UserAgent& operator=(const UserAgent&) = delete;

    std::error_code start();  // binds UDP (and TCP on the same port, UaConfig::tcp)
    uint16_t port() const;
    std::string contact() const;  // e.g. sip:alice@127.0.0.1:5060
    // Host and port written in Contact and Via from now on, e.g. the NAT's public mapping
    // of the socket learnt by STUN (port 0 = the bound port). Transactions already
    // running keep their Via.
    void set_advertised(std::string host, uint16_t port);
    UdpTransport* transport();      // nullptr before start()
    TcpTransport* tcp_transport();  // nullptr before start() or without UaConfig::tcp
    TlsTransport* tls_transport();  // nullptr before start() or without UaConfig::tls
    const UaConfig& config() const;

    // Outgoing call. request_uri = where to send (host must be an IP literal; port 5060 by
    // default); ";transport=tcp" sends over TCP and keeps the dialog on it (Contact then
    // says so too); to_aor = callee AOR for To. Failures (bad destination, not started) are
    // reported through on_closed, posted.
    std::shared_ptr<Session> invite(const Uri& request_uri, const std::string& to_aor,
                                    std::string sdp_offer, SessionHandlers handlers);
    // The same with a different From (AOR and display name) and extra headers. The
    // Request-URI is sent as given, parameters included (e.g. a registered phone contact
    // "sip:alice-x1@192.0.2.4:40123;transport=udp;line=abc"). An unparseable from_aor ends
    // the session with on_closed(400, ...), posted.
    std::shared_ptr<Session> invite(const Uri& request_uri, const std::string& to_aor,
                                    std::string sdp_offer, SessionHandlers handlers,
                                    InviteOptions options);
    // New incoming INVITE. Without a handler calls are answered 480.
    void on_incoming(std::function<void(std::shared_ptr<Session>)> handler);
    // RFC 3428 MESSAGE outside a dialog: answered 200 after the handler ran; without a
    // handler 405. A MESSAGE without a body gets 400.
    void on_message(std::function<void(const InstantMessage&)> handler);
    // Sends a MESSAGE (non-INVITE transaction, §17.1.2) to request_uri (same rules as
    // invite()); done(final status, reason) once: 408 on timeout, 503 when it cannot be sent.
    void send_message(const Uri& request_uri, const std::string& to_aor, std::string content_type,
                      std::string body, std::function<void(int status, std::string reason)> done);
    // Out-of-dialog requests of `method` (e.g. "REGISTER", "SUBSCRIBE") go to `handler`
    // instead of the built-in 405/501. The UA core's checks run first (416 scheme, 482
    // merged, 420 Require); INVITE, ACK, CANCEL, BYE and OPTIONS keep their built-in
    // handling (the hook is ignored for them); a hook for MESSAGE takes precedence over
    // on_message. The handler answers through `respond` exactly once, now or later
    // (further calls are ignored; a To-tag is added; a status outside 200-699 becomes 500;
    // after stop() nothing is sent). Methods with a hook are listed in Allow. A null
    // handler removes the hook.
    using RequestHandler = std::function<void(const Message& request, const Destination& source,
                                              std::function<void(ResponseSpec)> respond)>;
    void on_request(std::string method, RequestHandler handler);
    // Closes the socket and drops all sessions and transactions without callbacks.
    void stop();

    std::size_t session_count() const;
    TransactionLayer* transactions();  // nullptr before start()

  private:
    std::shared_ptr<detail::UaCore> core_;
};

}  // namespace p2psip::sip
