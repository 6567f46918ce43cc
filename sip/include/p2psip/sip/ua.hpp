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

#include "p2psip/sip/dialog.hpp"
#include "p2psip/sip/message.hpp"
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
};

// Callbacks of one call. All run on the io_context thread. on_closed runs exactly once per
// session, whatever ended it:
//   failure response      -> its status and reason phrase (486 "Busy Here", 487 after CANCEL)
//   no answer (Timer B)   -> 408 "Request Timeout"
//   BYE (either side)     -> 200 "Remote hangup" / "Local hangup"
//   CANCEL received (UAS) -> 487 "Cancelled by caller"
//   reject()/hangup() UAS -> the status sent, "Rejected: <reason>"
//   no ACK for our 2xx    -> 408 "No ACK received" (a BYE is sent)
struct SessionHandlers {
    std::function<void(int status, std::string_view reason)> on_progress;  // 1xx (UAC)
    std::function<void(std::string_view remote_sdp)> on_established;       // 2xx+ACK
    std::function<void(int status, std::string reason)> on_closed;
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

    void ringing();                             // UAS: 180
    void accept(std::string sdp_answer);        // UAS: 200 + SDP, retransmitted until ACK
    void reject(int code, std::string reason);  // UAS: 3xx-6xx
    void hangup();                              // UAC early: CANCEL; confirmed: BYE; UAS early: 603

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
    void retransmit_2xx();

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
    // UAC
    std::shared_ptr<ClientTransaction> invite_txn_;
    uint32_t invite_cseq_ = 0;
    bool got_provisional_ = false;
    bool cancel_requested_ = false;
    std::string ack_wire_;
    UdpEndpoint ack_dest_;
    // UAS
    std::optional<Message> request_;
    std::shared_ptr<ServerTransaction> server_txn_;
    std::string ok_wire_;  // our 2xx, for §13.3.1.4 retransmission
    UdpEndpoint ok_dest_;
    bool bye_after_ack_ = false;
    std::chrono::milliseconds ok_interval_{};
    std::unique_ptr<asio::steady_timer> ok_timer_, ok_timeout_;
};

// The UA core (RFC 3261 §8, §13-15) over UDP.
class UserAgent {
  public:
    UserAgent(asio::io_context& io, UaConfig config);
    ~UserAgent();
    UserAgent(const UserAgent&) = delete;
    UserAgent& operator=(const UserAgent&) = delete;

    std::error_code start();  // binds UDP
    uint16_t port() const;
    std::string contact() const;  // e.g. sip:alice@127.0.0.1:5060
    // Host and port written in Contact and Via from now on, e.g. the NAT's public mapping
    // of the socket learnt by STUN (port 0 = the bound port). Transactions already
    // running keep their Via.
    void set_advertised(std::string host, uint16_t port);
    UdpTransport* transport();  // nullptr before start()
    const UaConfig& config() const;

    // Outgoing call. request_uri = where to send (host must be an IP literal; port 5060 by
    // default); to_aor = callee AOR for To. Failures (bad destination, not started) are
    // reported through on_closed, posted.
    std::shared_ptr<Session> invite(const Uri& request_uri, const std::string& to_aor,
                                    std::string sdp_offer, SessionHandlers handlers);
    // New incoming INVITE. Without a handler calls are answered 480.
    void on_incoming(std::function<void(std::shared_ptr<Session>)> handler);
    // Closes the socket and drops all sessions and transactions without callbacks.
    void stop();

    std::size_t session_count() const;
    TransactionLayer* transactions();  // nullptr before start()

  private:
    std::shared_ptr<detail::UaCore> core_;
};

}  // namespace p2psip::sip
