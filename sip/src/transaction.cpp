#include "p2psip/sip/transaction.hpp"

#include <algorithm>
#include <vector>

#include "p2psip/sip/error.hpp"
#include "text.hpp"

namespace p2psip::sip {

using std::chrono::milliseconds;

std::string_view to_string(TransactionState s) {
    switch (s) {
        case TransactionState::calling:
            return "Calling";
        case TransactionState::trying:
            return "Trying";
        case TransactionState::proceeding:
            return "Proceeding";
        case TransactionState::completed:
            return "Completed";
        case TransactionState::confirmed:
            return "Confirmed";
        case TransactionState::accepted:
            return "Accepted";
        case TransactionState::terminated:
            return "Terminated";
    }
    return "?";
}

namespace {

// Arms `timer`; `fn` runs only if the timer was neither re-armed nor cancelled meanwhile
// (the generation counter catches handlers already queued when cancel() was called).
template <typename Self, typename Fn>
void arm(asio::steady_timer& timer, unsigned& gen, milliseconds d, std::shared_ptr<Self> self,
         Fn fn) {
    unsigned g = ++gen;
    timer.expires_after(d);
    timer.async_wait([self = std::move(self), &gen, g, fn](const boost::system::error_code& ec) {
        if (ec || gen != g || self->state() == TransactionState::terminated) return;
        fn();
    });
}

void disarm(asio::steady_timer& timer, unsigned& gen) {
    ++gen;
    timer.cancel();
}

// A response generated locally from our own request (Timer B/F: 408, §8.1.3.1).
Message synthesize_response(const OutgoingMessage& req, int code) {
    OutgoingMessage r = OutgoingMessage::response(code);
    for (std::string_view h : {"Via", "From", "To", "Call-ID", "CSeq"})
        if (auto v = req.header(h)) r.add(h, std::string(*v));
    Message m;
    (void)parse_message(r.to_string(), m);
    return m;
}

}  // namespace

// ================================================================ client

ClientTransaction::ClientTransaction(TransactionLayer& layer, OutgoingMessage request,
                                     Destination destination, std::string branch,
                                     ResponseHandler handler)
    : layer_(&layer),
      request_(std::move(request)),
      dest_(destination),
      branch_(std::move(branch)),
      handler_(std::move(handler)),
      invite_(request_.method() == "INVITE"),
      state_(invite_ ? TransactionState::calling : TransactionState::trying),
      retransmit_timer_(layer.io()),
      timeout_timer_(layer.io()) {}

void ClientTransaction::start() {
    const auto& t = layer_->timers();
    wire_ = request_.to_string();
    (void)layer_->send(wire_, dest_);
    interval_ = t.t1;
    // Timer A / E start at T1, only for unreliable transports (§17.1.1.2, §17.1.2.2);
    // Timer B / F = 64*T1 for all.
    if (!reliable())
        arm(retransmit_timer_, retransmit_gen_, interval_, shared_from_this(),
            [this] { on_retransmit_timer(); });
    arm(timeout_timer_, timeout_gen_, 64 * t.t1, shared_from_this(),
        [this] { on_timeout_timer(); });
}

void ClientTransaction::on_retransmit_timer() {
    const auto& t = layer_->timers();
    if (invite_) {
        if (state_ != TransactionState::calling) return;
        interval_ *= 2;  // Timer A doubles without bound
    } else {
        if (state_ == TransactionState::trying) {
            interval_ = std::min(interval_ * 2, t.t2);  // Timer E: min(2E, T2)
        } else if (state_ == TransactionState::proceeding) {
            interval_ = t.t2;
        } else {
            return;
        }
    }
    (void)layer_->send(wire_, dest_);
    arm(retransmit_timer_, retransmit_gen_, interval_, shared_from_this(),
        [this] { on_retransmit_timer(); });
}

void ClientTransaction::on_timeout_timer() {
    switch (state_) {
        case TransactionState::calling:  // Timer B
        case TransactionState::trying:   // Timer F
        case TransactionState::proceeding:
            timeout_408();
            break;
        default:
            terminate();
            break;  // Timer D, K, M
    }
}

void ClientTransaction::fail_503() {
    Message m = synthesize_response(request_, 503);
    auto self = shared_from_this();
    auto h = handler_;
    terminate();
    if (h) h(m);
}

void ClientTransaction::timeout_408() {
    Message m = synthesize_response(request_, 408);
    auto self = shared_from_this();
    auto h = handler_;
    terminate();
    if (h) h(m);
}

void ClientTransaction::deliver(const Message& response) {
    auto self = shared_from_this();
    auto h = handler_;
    if (h) h(response);
}

void ClientTransaction::send_ack(const Message& response) {
    // RFC 3261 §17.1.1.3: ACK for a non-2xx final response, same branch as the INVITE.
    OutgoingMessage ack = OutgoingMessage::request("ACK", request_.request_uri());
    if (auto v = request_.header("Via")) ack.add("Via", std::string(*v));
    ack.add("Max-Forwards", "70");
    if (auto v = request_.header("From")) ack.add("From", std::string(*v));
    if (auto v = response.header("To")) ack.add("To", std::string(*v));
    if (auto v = request_.header("Call-ID")) ack.add("Call-ID", std::string(*v));
    ack.add("CSeq", std::to_string(response.cseq().number) + " ACK");
    for (const auto& [n, v] : request_.header_list())
        if (detail::iequals(n, "Route")) ack.add("Route", v);
    ack_ = ack.to_string();
    (void)layer_->send(ack_, dest_);
}

void ClientTransaction::on_response(const Message& r) {
    const auto& t = layer_->timers();
    const int code = r.status();
    if (invite_) {
        switch (state_) {
            case TransactionState::calling:
            case TransactionState::proceeding:
                if (code < 200) {
                    state_ = TransactionState::proceeding;
                    disarm(retransmit_timer_, retransmit_gen_);
                    disarm(timeout_timer_, timeout_gen_);  // Timer B only runs in Calling
                } else if (code < 300) {
                    // RFC 6026 §8.4: Accepted, 2xx retransmissions go to the TU; Timer M.
                    state_ = TransactionState::accepted;
                    disarm(retransmit_timer_, retransmit_gen_);
                    arm(timeout_timer_, timeout_gen_, 64 * t.t1, shared_from_this(),
                        [this] { on_timeout_timer(); });
                } else {
                    state_ = TransactionState::completed;
                    disarm(retransmit_timer_, retransmit_gen_);
                    send_ack(r);
                    // Timer D: 0 for reliable transports (§17.1.1.2).
                    arm(timeout_timer_, timeout_gen_, reliable() ? milliseconds(0) : t.timer_d,
                        shared_from_this(), [this] { on_timeout_timer(); });
                }
                deliver(r);
                break;
            case TransactionState::completed:
                if (code >= 300) (void)layer_->send(ack_, dest_);
                break;
            case TransactionState::accepted:
                if (code >= 200 && code < 300) deliver(r);
                break;
            default:
                break;
        }
        return;
    }
    if (state_ != TransactionState::trying && state_ != TransactionState::proceeding) return;
    if (code < 200) {
        state_ = TransactionState::proceeding;
    } else {
        state_ = TransactionState::completed;
        disarm(retransmit_timer_, retransmit_gen_);
        // Timer K: T4, 0 for reliable transports (§17.1.2.2).
        arm(timeout_timer_, timeout_gen_, reliable() ? milliseconds(0) : t.t4, shared_from_this(),
            [this] { on_timeout_timer(); });
    }
    deliver(r);
}

void ClientTransaction::terminate() {
    if (state_ == TransactionState::terminated) return;
    state_ = TransactionState::terminated;
    disarm(retransmit_timer_, retransmit_gen_);
    disarm(timeout_timer_, timeout_gen_);
    handler_ = nullptr;
    if (layer_) layer_->remove_client(branch_ + "|" + request_.method());
}

// ================================================================ server

ServerTransaction::ServerTransaction(TransactionLayer& layer, const Message& request,
                                     Destination source, std::string key)
    : layer_(&layer),
      request_(request),
      source_(source),
      key_(std::move(key)),
      invite_(request.method() == "INVITE"),
      state_(invite_ ? TransactionState::proceeding : TransactionState::trying),
      retransmit_timer_(layer.io()),
      timeout_timer_(layer.io()),
      trying_timer_(layer.io()) {}

void ServerTransaction::start() {
    if (!invite_) return;
    // §17.2.1: send 100 Trying if the TU has not answered within 200 ms.
    arm(trying_timer_, trying_gen_, layer_->timers().trying_delay, shared_from_this(), [this] {
        if (state_ == TransactionState::proceeding && last_status_ == 0)
            respond(make_response(request_, 100));
    });
}

void ServerTransaction::send_last() {
    if (!last_response_.empty())
        (void)layer_->send(last_response_, layer_->response_target(request_, source_));
}

void ServerTransaction::respond(const OutgoingMessage& response) {
    if (state_ == TransactionState::terminated) return;
    const auto& t = layer_->timers();
    const int code = response.status();
    auto keep = [&] {
        last_response_ = response.to_string();
        last_status_ = code;
        send_last();
    };
    if (invite_) {
        if (state_ == TransactionState::accepted) {
            // RFC 6026 §7.1: 2xx retransmissions from the TU pass through.
            if (code >= 200 && code < 300) keep();
            return;
        }
        if (state_ != TransactionState::proceeding) return;
        keep();
        if (code < 200) return;
        disarm(trying_timer_, trying_gen_);
        if (code < 300) {
            state_ = TransactionState::accepted;  // Timer L
            arm(timeout_timer_, timeout_gen_, 64 * t.t1, shared_from_this(),
                [this] { terminate(); });
        } else {
            state_ = TransactionState::completed;
            interval_ = t.t1;
            // Timer G: retransmit the final response, doubling up to T2; only over
            // unreliable transports (§17.2.1).
            auto self = shared_from_this();
            if (!reliable())
                arm(retransmit_timer_, retransmit_gen_, interval_, self, [this] { on_timer_g(); });
            // Timer H: give up waiting for the ACK.
            arm(timeout_timer_, timeout_gen_, 64 * t.t1, self, [this] { terminate(); });
        }
        return;
    }
    if (state_ != TransactionState::trying && state_ != TransactionState::proceeding) return;
    keep();
    if (code < 200) {
        state_ = TransactionState::proceeding;
    } else {
        state_ = TransactionState::completed;
        // Timer J: 64*T1 for UDP, 0 for reliable transports (§17.2.2).
        arm(timeout_timer_, timeout_gen_, reliable() ? milliseconds(0) : 64 * t.t1,
            shared_from_this(), [this] { terminate(); });
    }
}

void ServerTransaction::on_timer_g() {
    if (state_ != TransactionState::completed) return;
    send_last();
    interval_ = std::min(interval_ * 2, layer_->timers().t2);
    arm(retransmit_timer_, retransmit_gen_, interval_, shared_from_this(),
        [this] { on_timer_g(); });
}

void ServerTransaction::on_request(const Message& req) {
    if (invite_ && req.method() == "ACK") {
        if (state_ == TransactionState::completed) {
            // §17.2.1: Confirmed, Timer I absorbs ACK retransmissions.
            state_ = TransactionState::confirmed;
            disarm(retransmit_timer_, retransmit_gen_);
            // Timer I: T4, 0 for reliable transports.
            arm(timeout_timer_, timeout_gen_, reliable() ? milliseconds(0) : layer_->timers().t4,
                shared_from_this(), [this] { terminate(); });
        }
        return;
    }
    switch (state_) {
        case TransactionState::proceeding:
        case TransactionState::completed:
            send_last();
            break;
        default:
            break;  // Trying, Accepted, Confirmed: absorb
    }
}

void ServerTransaction::terminate() {
    if (state_ == TransactionState::terminated) return;
    state_ = TransactionState::terminated;
    disarm(retransmit_timer_, retransmit_gen_);
    disarm(timeout_timer_, timeout_gen_);
    disarm(trying_timer_, trying_gen_);
    if (layer_) layer_->remove_server(key_);
}

// ================================================================ layer

TransactionLayer::TransactionLayer(asio::io_context& io, UdpTransport& transport,
                                   TimerConfig timers)
    : TransactionLayer(io, transport, nullptr, timers) {}

TransactionLayer::TransactionLayer(asio::io_context& io, UdpTransport& transport, TcpTransport* tcp,
                                   TimerConfig timers)
    : io_(io), transport_(transport), tcp_(tcp), timers_(timers), rng_(std::random_device{}()) {
    transport_.set_handler([this](const Message& m, const UdpEndpoint& from) { handle(m, from); });
    if (tcp_) {
        tcp_->set_handler([this](const Message& m, const UdpEndpoint& from) {
            handle(m, Destination(from, TransportKind::tcp));
        });
        tcp_->set_error_handler([this](const UdpEndpoint& peer, std::error_code) {
            on_connection_failed(peer, TransportKind::tcp);
        });
    }
}

TransactionLayer::~TransactionLayer() {
    transport_.set_handler(nullptr);
    if (tcp_) {
        tcp_->set_handler(nullptr);
        tcp_->set_error_handler(nullptr);
    }
    set_tls(nullptr);
    shutdown();
}

void TransactionLayer::set_tls(TlsTransport* tls) {
    if (tls_) {
        tls_->set_handler(nullptr);
        tls_->set_error_handler(nullptr);
    }
    tls_ = tls;
    if (!tls_) return;
    tls_->set_handler([this](const Message& m, const UdpEndpoint& from) {
        handle(m, Destination(from, TransportKind::tls));
    });
    tls_->set_error_handler([this](const UdpEndpoint& peer, std::error_code) {
        on_connection_failed(peer, TransportKind::tls);
    });
}

std::error_code TransactionLayer::send(std::string wire, const Destination& to) {
    switch (to.transport) {
        case TransportKind::udp:
            return transport_.send(std::move(wire), to.endpoint);
        case TransportKind::tcp:
            return tcp_ ? tcp_->send(std::move(wire), to.endpoint) : Errc::no_route;
        case TransportKind::tls:
            return tls_ ? tls_->send(std::move(wire), to.endpoint) : Errc::no_route;
    }
    return Errc::no_route;
}

Destination TransactionLayer::response_target(const Message& request,
                                              const Destination& source) const {
    if (source.transport == TransportKind::udp) {
        UdpEndpoint ep;
        if (response_destination(request.via(), ep)) ep = source.endpoint;
        return ep;
    }
    const TcpTransport* stream =
        source.transport == TransportKind::tls ? static_cast<const TcpTransport*>(tls_) : tcp_;
    const bool open = stream && stream->has_connection(source.endpoint);
    return Destination(stream_response_destination(request.via(), source.endpoint, open),
                       source.transport);
}

void TransactionLayer::on_connection_failed(const UdpEndpoint& peer, TransportKind kind) {
    // RFC 3261 §17.1.4 / §8.1.3.1: a transport error is reported to the TU as a 503.
    std::vector<std::shared_ptr<ClientTransaction>> hit;
    for (auto& [k, c] : clients_) {
        const auto st = c->state();
        if (c->target() == Destination(peer, kind) &&
            (st == TransactionState::calling || st == TransactionState::trying ||
             st == TransactionState::proceeding))
            hit.push_back(c);
    }
    for (auto& c : hit) c->fail_503();
}

void TransactionLayer::shutdown() {
    auto clients = std::move(clients_);
    auto servers = std::move(servers_);
    clients_.clear();
    servers_.clear();
    for (auto& [k, c] : clients) c->terminate();
    for (auto& [k, s] : servers) s->terminate();
}

void TransactionLayer::set_sent_by(std::string host, uint16_t port) {
    sent_by_host_ = std::move(host);
    sent_by_port_ = port;
}

std::string TransactionLayer::random_token(std::size_t hex_chars) {
    static const char* hex = "0123456789abcdef";
    std::string r;
    r.reserve(hex_chars);
    while (r.size() < hex_chars) {
        uint64_t v = rng_();
        for (int i = 0; i < 16 && r.size() < hex_chars; ++i, v >>= 4) r += hex[v & 15];
    }
    return r;
}

std::string TransactionLayer::make_branch() {
    return "z9hG4bK" + random_token(16);
}

std::string TransactionLayer::via_value(std::string_view branch, TransportKind transport) const {
    std::string host = sent_by_host_;
    uint16_t port = sent_by_port_;
    if (host.empty()) {
        auto ep = transport_.local_endpoint();
        host = ep.address().to_string();
        port = ep.port();
    }
    // TLS listens on its own port (TCP and UDP share one).
    if (transport == TransportKind::tls && tls_) port = tls_->local_port();
    if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";
    std::string v = "SIP/2.0/" + std::string(to_string(transport)) + " " + host;
    if (port) v += ":" + std::to_string(port);
    v += ";branch=" + std::string(branch) + ";rport";
    return v;
}

std::shared_ptr<ClientTransaction> TransactionLayer::send_request(
    OutgoingMessage request, const Destination& destination,
    ClientTransaction::ResponseHandler handler) {
    std::string branch;
    if (auto v = request.header("Via")) {
        Via via;
        if (!parse_via(*v, via)) branch = via.branch;
    }
    if (branch.empty()) {
        branch = make_branch();
        request.add_front("Via", via_value(branch, destination.transport));
    }
    std::string key = branch + "|" + request.method();
    auto txn = std::make_shared<ClientTransaction>(*this, std::move(request), destination, branch,
                                                   std::move(handler));
    clients_[key] = txn;
    txn->start();
    return txn;
}

std::error_code TransactionLayer::send_stateless(OutgoingMessage request,
                                                 const Destination& destination) {
    if (!request.header("Via"))
        request.add_front("Via", via_value(make_branch(), destination.transport));
    return send(request.to_string(), destination);
}

std::string TransactionLayer::server_key(const Message& msg, std::string_view method) {
    const Via& v = msg.via();
    // §17.2.3: branch + sent-by + method; RFC 2543 fallback on the dialog-ish fields.
    if (v.rfc3261_branch())
        return std::string(v.branch) + "|" + v.sent_by() + "|" + std::string(method);
    return "2543|" + std::string(msg.call_id()) + "|" + std::to_string(msg.cseq().number) + "|" +
           msg.from_tag() + "|" + v.sent_by() + "|" + std::string(v.branch) + "|" +
           std::string(method);
}

std::shared_ptr<ServerTransaction> TransactionLayer::find_invite_server(
    const Message& cancel) const {
    auto it = servers_.find(server_key(cancel, "INVITE"));
    return it == servers_.end() ? nullptr : it->second;
}

bool TransactionLayer::is_merged(const ServerTransaction& txn) const {
    const Message& req = txn.request();
    std::string from_tag;
    bool have_tag = false;
    for (const auto& [key, other] : servers_) {
        if (other.get() == &txn || other->state() == TransactionState::terminated) continue;
        const Message& o = other->request();
        if (o.call_id() != req.call_id() || o.cseq().number != req.cseq().number ||
            o.cseq().method != req.cseq().method)
            continue;
        if (!have_tag) {
            from_tag = req.from_tag();
            have_tag = true;
        }
        if (o.from_tag() == from_tag) return true;
    }
    return false;
}

void TransactionLayer::handle(const Message& msg, const Destination& from) {
    if (!msg.is_request()) {
        auto it =
            clients_.find(std::string(msg.via().branch) + "|" + std::string(msg.cseq().method));
        if (it != clients_.end()) {
            auto txn = it->second;
            txn->on_response(msg);
        } else if (on_unmatched_) {
            on_unmatched_(msg, from.endpoint);
        }
        return;
    }
    const bool ack = msg.method() == "ACK";
    auto it = servers_.find(server_key(msg, ack ? std::string_view("INVITE") : msg.method()));
    if (it != servers_.end()) {
        auto txn = it->second;
        if (ack && txn->state() == TransactionState::accepted) {
            if (on_unmatched_) on_unmatched_(msg, from.endpoint);  // ACK for a 2xx
        } else {
            txn->on_request(msg);
        }
        return;
    }
    if (ack) {
        if (on_unmatched_) on_unmatched_(msg, from.endpoint);
        return;
    }
    std::string key = server_key(msg, msg.method());
    auto txn = std::make_shared<ServerTransaction>(*this, msg, from, key);
    servers_[key] = txn;
    txn->start();
    if (on_request_) {
        on_request_(txn, msg);
    } else {
        txn->respond(make_response(msg, 500, "No transaction user"));
    }
}

void TransactionLayer::remove_client(const std::string& key) {
    clients_.erase(key);
}
void TransactionLayer::remove_server(const std::string& key) {
    servers_.erase(key);
}

}  // namespace p2psip::sip
