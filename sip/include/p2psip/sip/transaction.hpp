#pragma once

#include <utility>  // before Boost.Asio (project convention)

#include <boost/asio.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>

#include "p2psip/sip/message.hpp"
#include "p2psip/sip/tcp_transport.hpp"
#include "p2psip/sip/transport.hpp"

namespace p2psip::sip {

// RFC 3261 §17.1.1.1 / Table 4 timer values (UDP). Over reliable transports (TCP, TLS)
// Timers A, E and G are not started and D, I, J, K are 0 (§17.1.1.2, §17.1.2.2, §17.2.1,
// §17.2.2).
struct TimerConfig {
    std::chrono::milliseconds t1{500};
    std::chrono::milliseconds t2{4000};
    std::chrono::milliseconds t4{5000};
    std::chrono::milliseconds timer_d{32000};     // > 32 s for UDP (§17.1.1.2)
    std::chrono::milliseconds trying_delay{200};  // §17.2.1: 100 if the TU is silent
};

enum class TransactionState {
    calling,
    trying,
    proceeding,
    completed,
    confirmed,
    accepted,
    terminated
};
std::string_view to_string(TransactionState s);

class TransactionLayer;

// INVITE client (§17.1.1, RFC 6026 Accepted state) and non-INVITE client (§17.1.2).
class ClientTransaction : public std::enable_shared_from_this<ClientTransaction> {
  public:
    // Every response the TU must see: 1xx, the final response, 2xx retransmissions while
    // Accepted, and a synthetic 408 when Timer B/F fires (§17.1.1.2, §17.1.2.2).
    using ResponseHandler = std::function<void(const Message& response)>;

    ClientTransaction(TransactionLayer& layer, OutgoingMessage request, Destination destination,
                      std::string branch, ResponseHandler handler);
    bool is_invite() const { return invite_; }
    TransactionState state() const { return state_; }
    const std::string& branch() const { return branch_; }
    const OutgoingMessage& request() const { return request_; }  // with its Via
    const UdpEndpoint& destination() const { return dest_.endpoint; }
    const Destination& target() const { return dest_; }  // endpoint + transport
    bool reliable() const { return is_reliable(dest_.transport); }
    void set_handler(ResponseHandler h) { handler_ = std::move(h); }
    // Stops timers; no more callbacks. The layer forgets the transaction.
    void terminate();

  private:
    friend class TransactionLayer;
    void start();
    void on_response(const Message& response);
    void on_retransmit_timer();
    void on_timeout_timer();
    void send_ack(const Message& response);
    void deliver(const Message& response);
    void timeout_408();
    void fail_503();  // transport error (§8.1.3.1)

    TransactionLayer* layer_;
    OutgoingMessage request_;
    std::string wire_;  // serialized request, for retransmission
    std::string ack_;   // ACK for a non-2xx final response
    Destination dest_;
    std::string branch_;
    ResponseHandler handler_;
    bool invite_;
    TransactionState state_;
    std::chrono::milliseconds interval_{};
    asio::steady_timer retransmit_timer_, timeout_timer_;
    unsigned retransmit_gen_ = 0, timeout_gen_ = 0;  // invalidate queued timer handlers
};

// INVITE server (§17.2.1, RFC 6026 Accepted state) and non-INVITE server (§17.2.2).
class ServerTransaction : public std::enable_shared_from_this<ServerTransaction> {
  public:
    ServerTransaction(TransactionLayer& layer, const Message& request, Destination source,
                      std::string key);
    bool is_invite() const { return invite_; }
    TransactionState state() const { return state_; }
    const Message& request() const { return request_; }
    const UdpEndpoint& source() const { return source_.endpoint; }
    const Destination& origin() const { return source_; }  // source + transport it came on
    bool reliable() const { return is_reliable(source_.transport); }
    int last_status() const { return last_status_; }
    // Sends a TU response (build it with make_response(request(), ...)). Sent to the top Via
    // (§18.2.2). Final responses move the machine on; 2xx to INVITE goes to Accepted and
    // further 2xx (TU retransmissions, §13.3.1.4) pass through.
    void respond(const OutgoingMessage& response);
    void terminate();

  private:
    friend class TransactionLayer;
    void start();
    void on_request(const Message& request);  // retransmission or ACK
    void on_timer_g();
    void send_last();

    TransactionLayer* layer_;
    Message request_;
    Destination source_;
    std::string key_;
    bool invite_;
    TransactionState state_;
    std::string last_response_;
    int last_status_ = 0;
    std::chrono::milliseconds interval_{};
    asio::steady_timer retransmit_timer_, timeout_timer_, trying_timer_;
    unsigned retransmit_gen_ = 0, timeout_gen_ = 0, trying_gen_ = 0;
};

// Owns the transactions, matches messages to them (§17.1.3, §17.2.3) and hands the rest
// to the TU. Installs itself as the message handler of the transports (UDP, and TCP when
// given).
class TransactionLayer {
  public:
    // A new server transaction for a request (never an ACK).
    using RequestHandler =
        std::function<void(const std::shared_ptr<ServerTransaction>& txn, const Message& request)>;
    // Messages with no transaction: ACK for 2xx, 2xx retransmissions after the INVITE
    // client transaction is gone, stray responses.
    using UnmatchedHandler = std::function<void(const Message& msg, const UdpEndpoint& from)>;

    TransactionLayer(asio::io_context& io, UdpTransport& transport, TimerConfig timers = {});
    // With a TCP transport too (nullptr = UDP only). A failed connection ends the client
    // transactions waiting on it with a synthetic 503 (RFC 3261 §8.1.3.1, §17.1.4).
    TransactionLayer(asio::io_context& io, UdpTransport& transport, TcpTransport* tcp,
                     TimerConfig timers = {});
    ~TransactionLayer();
    TransactionLayer(const TransactionLayer&) = delete;
    TransactionLayer& operator=(const TransactionLayer&) = delete;

    void set_request_handler(RequestHandler h) { on_request_ = std::move(h); }
    void set_unmatched_handler(UnmatchedHandler h) { on_unmatched_ = std::move(h); }
    // sent-by for the Via we add (defaults to the transport's local address and port).
    void set_sent_by(std::string host, uint16_t port);
    // Adds a TLS transport (or removes it with nullptr); like TCP, a failed connection gives
    // a 503. Its Via sent-by port is the TLS listening port.
    void set_tls(TlsTransport* tls);

    // Starts a client transaction. A top Via with a fresh branch is added unless the request
    // already has a Via with a branch (e.g. CANCEL, §9.1), whose branch is then used.
    // The Via names the destination's transport (§18.1.1).
    std::shared_ptr<ClientTransaction> send_request(OutgoingMessage request,
                                                    const Destination& destination,
                                                    ClientTransaction::ResponseHandler handler);
    // Sends a request outside any transaction (ACK for 2xx, §13.2.2.4), adding a Via.
    std::error_code send_stateless(OutgoingMessage request, const Destination& destination);
    // Hands serialized bytes to the destination's transport (Errc::no_route when the layer
    // has no such transport).
    std::error_code send(std::string wire, const Destination& destination);
    // Where a response to `request` (received from `source`) goes: §18.2.2 (UDP: top Via
    // received/rport/sent-by; streams: the same connection while it is open).
    Destination response_target(const Message& request, const Destination& source) const;

    // §9.2: the INVITE server transaction a CANCEL refers to, if any.
    std::shared_ptr<ServerTransaction> find_invite_server(const Message& cancel) const;
    // §8.2.2.2: another live server transaction has the same From tag, Call-ID and CSeq
    // as `txn`'s request although the two did not match (a forked request that came back
    // by another path; the UAS answers 482).
    bool is_merged(const ServerTransaction& txn) const;

    // Feeds a message (what the transport handler does).
    void handle(const Message& msg, const Destination& from);

    std::string make_branch();  // "z9hG4bK" + random
    std::string random_token(std::size_t hex_chars = 16);
    // "SIP/2.0/UDP host:port;branch=..;rport" (TCP / TLS for those transports)
    std::string via_value(std::string_view branch,
                          TransportKind transport = TransportKind::udp) const;

    asio::io_context& io() { return io_; }
    UdpTransport& transport() { return transport_; }
    TcpTransport* tcp_transport() { return tcp_; }
    TlsTransport* tls_transport() { return tls_; }
    const TimerConfig& timers() const { return timers_; }
    std::size_t client_count() const { return clients_.size(); }
    std::size_t server_count() const { return servers_.size(); }
    // Terminates every transaction (no more callbacks).
    void shutdown();

  private:
    friend class ClientTransaction;
    friend class ServerTransaction;
    void remove_client(const std::string& key);
    void remove_server(const std::string& key);
    static std::string server_key(const Message& msg, std::string_view method);
    void on_connection_failed(const UdpEndpoint& peer, TransportKind kind);

    asio::io_context& io_;
    UdpTransport& transport_;
    TcpTransport* tcp_ = nullptr;
    TlsTransport* tls_ = nullptr;
    TimerConfig timers_;
    std::string sent_by_host_;
    uint16_t sent_by_port_ = 0;
    RequestHandler on_request_;
    UnmatchedHandler on_unmatched_;
    std::map<std::string, std::shared_ptr<ClientTransaction>> clients_;
    std::map<std::string, std::shared_ptr<ServerTransaction>> servers_;
    std::mt19937_64 rng_;
};

}  // namespace p2psip::sip
