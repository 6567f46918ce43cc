#include "p2psip/sip/ua.hpp"

#include <charconv>
#include <map>

#include "p2psip/sip/error.hpp"
#include "text.hpp"

namespace p2psip::sip {

namespace {
constexpr std::string_view kAllow = "INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, INFO";

// Methods whose out-of-dialog handling is the UA core's own (no on_request hook).
bool is_builtin_method(std::string_view m) {
    for (std::string_view k : {"INVITE", "ACK", "CANCEL", "BYE", "OPTIONS"})
        if (m == k) return true;
    return false;
}

bool is_known_method(std::string_view m) {
    for (std::string_view k : {"REGISTER", "PRACK", "SUBSCRIBE", "NOTIFY", "PUBLISH", "INFO",
                               "REFER", "MESSAGE", "UPDATE"})
        if (m == k) return true;
    return false;
}
}  // namespace

namespace detail {

class UaCore : public std::enable_shared_from_this<UaCore> {
  public:
    UaCore(asio::io_context& io, UaConfig cfg) : io(io), cfg(std::move(cfg)), transport(io) {
        if (parse_uri(this->cfg.aor, aor_uri)) aor_uri = Uri{};
    }

    std::string host() const {
        return cfg.advertised_address.empty() ? cfg.bind_address : cfg.advertised_address;
    }
    uint16_t port() const {
        return cfg.advertised_port ? cfg.advertised_port : transport.local_port();
    }

    // Where a new request for `uri` goes: its host (IP literals only, no DNS in this layer)
    // over the transport it names, else UDP (RFC 3261 §18.1.1, RFC 3263 §4.1).
    std::error_code destination_of(const Uri& uri, Destination& out) const {
        const TransportKind kind = uri_transport(uri).value_or(TransportKind::udp);
        const uint16_t default_port = kind == TransportKind::tls ? 5061 : 5060;
        if (!started) return Errc::not_open;
        if (make_endpoint(uri.host, uri.port ? uri.port : default_port, out.endpoint))
            return Errc::bad_address;
        if ((kind == TransportKind::tls && !tls) || (kind == TransportKind::tcp && !tcp))
            return Errc::no_route;  // a transport we do not have
        out.transport = kind;
        return {};
    }
    // From of a new request: our AOR (or our host when we hold none) with `tag`.
    NameAddr local_from(std::string tag) const {
        NameAddr from;
        from.display = cfg.display_name;
        from.uri = aor_uri;
        if (from.uri.host.empty()) {
            from.uri.scheme = "sip";
            from.uri.host = host();
        }
        from.params.emplace_back("tag", std::move(tag));
        return from;
    }

    // Our Contact URI; ";transport=tcp" for dialogs over TCP (RFC 3261 §8.1.1.8, §18.1.1:
    // the peer reaches us back over the transport the Contact names).
    std::string contact(TransportKind kind = TransportKind::udp) const {
        Uri c;
        c.scheme = "sip";
        c.user = aor_uri.user;
        c.host = host();
        c.port = kind == TransportKind::tls && tls ? tls->local_port() : port();
        if (auto t = uri_transport_param(kind); !t.empty()) c.params.emplace_back("transport", t);
        return c.to_string();
    }

    // Allow (RFC 3261 §20.5): the built-in methods plus those with an on_request hook.
    std::string allow() const {
        std::string a(kAllow);
        for (const auto& [m, h] : request_handlers)
            if (h && !is_builtin_method(m) && m != "MESSAGE" && m != "INFO") a += ", " + m;
        return a;
    }

    void decorate(OutgoingMessage& m) const {
        if (!cfg.user_agent.empty())
            m.set(m.is_request() ? "User-Agent" : "Server", cfg.user_agent);
    }

    OutgoingMessage response(const Message& req, int code, std::string_view reason,
                             std::string_view to_tag) const {
        auto r = make_response(req, code, reason, to_tag);
        decorate(r);
        return r;
    }

    void reply(const std::shared_ptr<ServerTransaction>& txn, int code,
               std::string_view reason = {}) {
        auto r = response(txn->request(), code, reason, layer->random_token(10));
        if (code == 405 || code == 200) r.add("Allow", allow());
        if (code == 200 || code == 415) r.add("Accept", "application/sdp");
        txn->respond(r);
    }

    std::shared_ptr<Session> find(std::string_view call_id, std::string_view local_tag) {
        auto it = sessions.find(std::string(call_id) + ";" + std::string(local_tag));
        return it == sessions.end() ? nullptr : it->second;
    }

    void on_request(const std::shared_ptr<ServerTransaction>& txn, const Message& req);
    void hand_over(const UserAgent::RequestHandler& handler,
                   const std::shared_ptr<ServerTransaction>& txn, const Message& req);
    bool reject_invite_content(const std::shared_ptr<ServerTransaction>& txn, const Message& req);
    void on_unmatched(const Message& msg, const UdpEndpoint& from);
    void on_new_invite(const std::shared_ptr<ServerTransaction>& txn, const Message& req);

    asio::io_context& io;
    UaConfig cfg;
    Uri aor_uri;
    UdpTransport transport;             // destroyed after the layer
    std::unique_ptr<TcpTransport> tcp;  // when cfg.tcp; also destroyed after the layer
    std::unique_ptr<TlsTransport> tls;  // when cfg.tls
    std::unique_ptr<TransactionLayer> layer;
    std::map<std::string, std::shared_ptr<Session>> sessions;
    std::function<void(std::shared_ptr<Session>)> on_incoming;
    std::function<void(const InstantMessage&)> on_message;
    std::map<std::string, UserAgent::RequestHandler> request_handlers;
    bool started = false;
};

void UaCore::on_request(const std::shared_ptr<ServerTransaction>& txn, const Message& req) {
    const std::string_view method = req.method();
    const std::string_view ruri = req.request_uri();
    // RFC 3261 §8.2.2.1: unsupported Request-URI scheme.
    if (!(detail::iequals(ruri.substr(0, 4), "sip:") ||
          detail::iequals(ruri.substr(0, 5), "sips:"))) {
        reply(txn, 416);
        return;
    }
    const std::string to_tag = req.to_tag();
    // §8.2.2.2: the same request arriving again by another path (e.g. after forking).
    if (to_tag.empty() && layer->is_merged(*txn)) {
        reply(txn, 482);
        return;
    }
    // §8.2.2.3: we support no extensions.
    if (auto req_ext = req.header("Require"); req_ext && method != "CANCEL") {
        auto r = response(req, 420, {}, layer->random_token(10));
        r.add("Unsupported", std::string(*req_ext));
        txn->respond(r);
        return;
    }
    if (method == "OPTIONS") {
        reply(txn, 200);
        return;
    }
    if (!to_tag.empty()) {
        auto s = find(req.call_id(), to_tag);
        if (!s || !s->dialog_ || s->dialog_->remote_tag != req.from_tag()) {
            reply(txn, 481);
            return;
        }
        if (!s->dialog_->accept_remote_cseq(req)) {
            reply(txn, 500, "CSeq out of order");  // §12.2.2
            return;
        }
        if (method == "BYE") {
            s->on_bye(txn, req);
        } else if (method == "INFO") {
            // RFC 6086 §4.2.2: an Info Package we did not announce gets 469.
            if (req.header("Info-Package")) {
                reply(txn, 469);
                return;
            }
            reply(txn, 200);
            if (s->handlers_.on_info)
                s->handlers_.on_info(req.header("Content-Type").value_or(""), req.body());
        } else if (method == "INVITE") {
            if (!reject_invite_content(txn, req)) s->on_reinvite(txn, req);
        } else {
            reply(txn, is_known_method(method) ? 405 : 501);
        }
        return;
    }
    if (!is_builtin_method(method)) {
        if (auto it = request_handlers.find(std::string(method));
            it != request_handlers.end() && it->second) {
            hand_over(it->second, txn, req);
            return;
        }
    }
    if (method == "INVITE") {
        on_new_invite(txn, req);
    } else if (method == "CANCEL") {
        // §9.2: match the INVITE server transaction; 200 to the CANCEL, 487 to the INVITE.
        auto inv = layer->find_invite_server(req);
        if (!inv) {
            reply(txn, 481);
            return;
        }
        std::shared_ptr<Session> s;
        for (auto& [k, v] : sessions)
            if (v->server_txn_ == inv) s = v;
        txn->respond(response(req, 200, {}, s ? s->local_tag_ : layer->random_token(10)));
        if (s) {
            s->on_cancel();
        } else if (inv->last_status() < 200) {
            inv->respond(response(inv->request(), 487, {}, layer->random_token(10)));
        }
    } else if (method == "BYE") {
        reply(txn, 481);
    } else if (method == "MESSAGE" && on_message) {
        // RFC 3428 §7: a MESSAGE carries its content in the body; none is a bad request.
        if (req.body().empty()) {
            reply(txn, 400, "MESSAGE without a body");
            return;
        }
        InstantMessage m;
        NameAddr from;
        if (!parse_name_addr(std::string(req.header("From").value_or("")), from))
            m.from_aor = canonical_aor(from.uri);
        m.content_type = std::string(req.header("Content-Type").value_or("text/plain"));
        m.body = std::string(req.body());
        reply(txn, 200);
        auto h = on_message;  // the handler may replace itself
        h(m);
    } else {
        reply(txn, is_known_method(method) ? 405 : 501);
    }
}

// Gives an out-of-dialog request to its on_request hook; `respond` answers it once.
void UaCore::hand_over(const UserAgent::RequestHandler& handler,
                       const std::shared_ptr<ServerTransaction>& txn, const Message& req) {
    auto h = handler;  // the handler may replace itself
    auto once = std::make_shared<bool>(false);
    std::weak_ptr<UaCore> weak = weak_from_this();
    h(req, txn->origin(), [weak, txn, once](ResponseSpec spec) {
        if (*once) return;
        *once = true;
        auto core = weak.lock();
        if (!core || !core->started) return;
        const int code = spec.status >= 200 && spec.status <= 699 ? spec.status : 500;
        auto r = core->response(txn->request(), code, spec.reason, core->layer->random_token(10));
        for (auto& [n, v] : spec.headers) r.add(n, std::move(v));
        if (code == 405 && !r.header("Allow")) r.add("Allow", core->allow());
        if (!spec.body.empty()) r.set_body(std::move(spec.body), spec.content_type);
        txn->respond(r);
    });
}

// Answers 415/406 when the INVITE's body or Accept does not fit SDP; true if it answered.
bool UaCore::reject_invite_content(const std::shared_ptr<ServerTransaction>& txn,
                                   const Message& req) {
    if (!req.body().empty()) {
        auto ct = req.header("Content-Type").value_or("");
        auto semi = ct.find(';');
        if (!detail::iequals(detail::trim(ct.substr(0, semi)), "application/sdp")) {
            reply(txn, 415);  // §8.2.3
            return true;
        }
    }
    // §21.4.7: our answers carry application/sdp; a UAS that cannot send a type the
    // request accepts answers 406 (RFC 4475 §3.3.15).
    if (auto accept = req.header("Accept"); accept && !detail::trim(*accept).empty()) {
        bool ok = false;
        for (auto type : req.headers("Accept")) {
            auto t = detail::trim(type.substr(0, type.find(';')));
            ok = ok || detail::iequals(t, "application/sdp") ||
                 detail::iequals(t, "application/*") || t == "*/*";
        }
        if (!ok) {
            auto r = response(req, 406, {}, layer->random_token(10));
            r.add("Accept", "application/sdp");
            txn->respond(r);
            return true;
        }
    }
    return false;
}

void UaCore::on_new_invite(const std::shared_ptr<ServerTransaction>& txn, const Message& req) {
    if (reject_invite_content(txn, req)) return;
    auto s = std::make_shared<Session>(weak_from_this(), Session::Role::uas);
    s->state_ = Session::State::incoming;
    s->call_id_ = req.call_id();
    s->local_tag_ = layer->random_token(10);
    s->key_ = s->call_id_ + ";" + s->local_tag_;
    s->request_ = req;
    s->server_txn_ = txn;
    s->remote_sdp_ = req.body();
    s->remote_ep_ = txn->source();
    s->transport_ = txn->origin().transport;  // the dialog stays on it
    NameAddr from = req.from(), to = req.to();
    s->from_aor_ = canonical_aor(from.uri);
    s->from_display_ = from.display;
    s->to_aor_ = canonical_aor(to.uri);
    sessions[s->key_] = s;
    if (on_incoming) {
        auto h = on_incoming;
        h(s);
    } else {
        s->reject(480, "Temporarily Unavailable");
    }
}

void UaCore::on_unmatched(const Message& msg, const UdpEndpoint&) {
    if (msg.is_request()) {
        if (msg.method() != "ACK") return;
        if (auto s = find(msg.call_id(), msg.to_tag())) s->on_ack(msg);
        return;
    }
    // 2xx retransmission after the INVITE client transaction ended (§13.2.2.4).
    if (msg.cseq().method == "INVITE" && msg.status() >= 200 && msg.status() < 300)
        if (auto s = find(msg.call_id(), msg.from_tag())) s->on_2xx_retransmission(msg);
}

}  // namespace detail

// ================================================================ Session

Session::Session(std::weak_ptr<detail::UaCore> core, Role role)
    : core_(std::move(core)),
      role_(role),
      state_(role == Role::uac ? State::calling : State::incoming) {}

void Session::set_handlers(SessionHandlers handlers) {
    handlers_ = std::move(handlers);
}

const Message* Session::request() const {
    return request_ ? &*request_ : nullptr;
}

void Session::close(int status, std::string reason) {
    if (state_ == State::terminated) return;
    auto self = shared_from_this();
    state_ = State::terminated;
    ok_pending_ = false;
    if (ok_timer_) ok_timer_->cancel();
    if (ok_timeout_) ok_timeout_->cancel();
    if (auto core = core_.lock()) core->sessions.erase(key_);
    auto h = std::move(handlers_.on_closed);
    handlers_ = {};
    if (reinvite_out_) {
        // The dialog ended under our re-INVITE: it is abandoned (its transaction too).
        if (reinvite_txn_) reinvite_txn_->terminate();
        finish_reinvite(487, {});
    }
    if (h) h(status, std::move(reason));
}

void Session::ringing() {
    auto core = core_.lock();
    if (!core || role_ != Role::uas || (state_ != State::incoming && state_ != State::early))
        return;
    auto r = core->response(*request_, 180, {}, local_tag_);
    r.add("Contact", "<" + core->contact(transport_) + ">");
    if (!dialog_) {
        Dialog d;
        if (!Dialog::from_uas(*request_, local_tag_, core->contact(transport_), d)) dialog_ = d;
    }
    state_ = State::early;
    server_txn_->respond(r);
}

void Session::accept(std::string sdp_answer) {
    auto core = core_.lock();
    if (!core || role_ != Role::uas || (state_ != State::incoming && state_ != State::early))
        return;
    local_sdp_ = std::move(sdp_answer);
    auto r = core->response(*request_, 200, {}, local_tag_);
    r.add("Contact", "<" + core->contact(transport_) + ">");
    r.add("Allow", core->allow());
    if (!local_sdp_.empty()) r.set_body(local_sdp_, "application/sdp");
    if (!dialog_) {
        Dialog d;
        if (!Dialog::from_uas(*request_, local_tag_, core->contact(transport_), d)) dialog_ = d;
    }
    if (dialog_) dialog_->state = Dialog::State::confirmed;
    state_ = State::accepted;
    server_txn_->respond(r);
    ok_wants_answer_ = false;
    start_2xx_retransmission(r.to_string(), *request_, server_txn_->origin());
}

// §13.3.1.4: the TU retransmits its 2xx to an INVITE (T1 doubling up to T2) until the ACK
// arrives, and gives up with a BYE after 64*T1. `req` is the INVITE answered. This holds
// over TCP too: "independent of whatever transport protocols are used to send the
// response" (§13.3.1.4), since a proxy on the path may forward over UDP.
void Session::start_2xx_retransmission(std::string wire, const Message& req,
                                       const Destination& src) {
    auto core = core_.lock();
    if (!core) return;
    ok_wire_ = std::move(wire);
    ok_dest_ = core->layer->response_target(req, src);  // §18.2.2
    ok_pending_ = true;
    ok_cseq_ = req.cseq().number;
    const unsigned gen = ++ok_gen_;
    const auto t1 = core->cfg.t1;
    ok_interval_ = t1;
    ok_timer_ = std::make_unique<asio::steady_timer>(core->io);
    ok_timeout_ = std::make_unique<asio::steady_timer>(core->io);
    retransmit_2xx(gen);
    ok_timeout_->expires_after(64 * t1);
    ok_timeout_->async_wait([w = weak_from_this(), gen](const boost::system::error_code& ec) {
        auto s = w.lock();
        if (ec || !s || !s->ok_pending_ || s->ok_gen_ != gen || s->state_ == State::terminated)
            return;
        s->send_bye();
        s->close(408, "No ACK received");
    });
}

void Session::retransmit_2xx(unsigned gen) {
    ok_timer_->expires_after(ok_interval_);
    ok_timer_->async_wait([w = weak_from_this(), gen](const boost::system::error_code& ec) {
        auto s = w.lock();
        if (ec || !s || !s->ok_pending_ || s->ok_gen_ != gen || s->state_ == State::terminated)
            return;
        auto core = s->core_.lock();
        if (!core || !core->started) return;
        (void)core->layer->send(s->ok_wire_, s->ok_dest_);
        s->ok_interval_ = std::min(s->ok_interval_ * 2, core->cfg.t2);
        s->retransmit_2xx(gen);
    });
}

void Session::reject(int code, std::string reason) {
    reject(code, std::move(reason), {});
}

void Session::reject(int code, std::string reason, HeaderList extra_headers) {
    auto core = core_.lock();
    if (!core || role_ != Role::uas || (state_ != State::incoming && state_ != State::early))
        return;
    if (code < 300 || code > 699) code = 480;
    auto r = core->response(*request_, code, reason, local_tag_);
    for (auto& [n, v] : extra_headers) r.add(n, std::move(v));
    server_txn_->respond(r);
    close(code, reason.empty() ? std::string(reason_phrase(code)) : reason);
}

void Session::hangup() {
    switch (state_) {
        case State::calling:
            // §9.1: CANCEL only once a provisional response has arrived.
            cancel_requested_ = true;
            if (got_provisional_) send_cancel();
            break;
        case State::early:
            if (role_ == Role::uac) {
                cancel_requested_ = true;
                send_cancel();
            } else {
                reject(603, "Decline");
            }
            break;
        case State::incoming:
            reject(603, "Decline");
            break;
        case State::accepted:
            bye_after_ack_ = true;
            break;  // §15: BYE after the ACK
        case State::confirmed:
            send_bye();
            break;
        default:
            break;
    }
}

void Session::send_cancel() {
    auto core = core_.lock();
    if (!core || !invite_txn_ || state_ == State::terminating) return;
    // §9.1: same Request-URI, Call-ID, To, From, CSeq number, top Via (branch) and Route.
    const OutgoingMessage& inv = invite_txn_->request();
    auto c = OutgoingMessage::request("CANCEL", inv.request_uri());
    if (auto v = inv.header("Via")) c.add("Via", std::string(*v));
    c.add("Max-Forwards", "70");
    for (const auto& [n, v] : inv.header_list())
        if (detail::iequals(n, "Route")) c.add("Route", v);
    for (std::string_view h : {"From", "To", "Call-ID"})
        if (auto v = inv.header(h)) c.add(h, std::string(*v));
    c.add("CSeq", std::to_string(invite_cseq_) + " CANCEL");
    core->decorate(c);
    state_ = State::terminating;
    core->layer->send_request(std::move(c), invite_txn_->destination(), nullptr);
    // §9.1: without a final response to the INVITE within 64*T1, give up.
    ok_timeout_ = std::make_unique<asio::steady_timer>(core->io);
    ok_timeout_->expires_after(64 * core->cfg.t1);
    ok_timeout_->async_wait([w = weak_from_this()](const boost::system::error_code& ec) {
        auto s = w.lock();
        if (ec || !s || s->state_ != State::terminating || s->dialog_) return;
        if (s->invite_txn_) s->invite_txn_->terminate();
        s->close(487, "Request Terminated");
    });
}

void Session::info(std::string content_type, std::string body,
                   std::function<void(int status)> done) {
    auto core = core_.lock();
    if (!core || !core->started || !dialog_ || state_ != State::confirmed) {
        if (done) done(0);  // nothing sent
        return;
    }
    auto req = dialog_->make_request("INFO");
    core->decorate(req);
    if (!body.empty())
        req.set_body(std::move(body),
                     content_type.empty() ? "text/plain" : std::move(content_type));
    auto once = std::make_shared<std::function<void(int)>>(std::move(done));
    core->layer->send_request(std::move(req), in_dialog_destination(), [once](const Message& r) {
        if (r.status() < 200 || !*once) return;
        auto fn = std::move(*once);
        *once = nullptr;
        fn(r.status());
    });
}

void Session::send_bye() {
    auto core = core_.lock();
    if (!core || !core->started || !dialog_) {
        close(200, "Local hangup");
        return;
    }
    auto bye = dialog_->make_request("BYE");
    core->decorate(bye);
    Destination dest = in_dialog_destination();
    if (state_ != State::terminated) state_ = State::terminating;
    // A 2xx to a re-INVITE still waiting for its ACK is not retransmitted any more.
    ok_pending_ = false;
    if (ok_timer_) ok_timer_->cancel();
    core->layer->send_request(std::move(bye), dest, [w = weak_from_this()](const Message& r) {
        if (r.status() < 200) return;
        if (auto s = w.lock()) s->close(200, "Local hangup");
    });
}

// The next hop of the dialog (first route, else remote target, RFC 3261 §12.2.1.1) over
// the transport its URI names (§18.1.1); a URI naming none keeps the dialog's transport
// (the peer reached us, or we reached it, over that one).
Destination Session::in_dialog_destination() const {
    const Uri& hop = dialog_->next_hop();
    const TransportKind kind = uri_transport(hop).value_or(transport_);
    const uint16_t port = hop.port ? hop.port : (kind == TransportKind::tls ? 5061 : 5060);
    UdpEndpoint ep;
    if (make_endpoint(hop.host, port, ep)) return Destination(remote_ep_, transport_);
    return Destination(ep, kind);
}

void Session::on_invite_response(const Message& r) {
    auto core = core_.lock();
    if (!core) return;
    auto self = shared_from_this();
    const int code = r.status();
    if (code < 200) {
        got_provisional_ = true;
        if (code > 100 && !r.to_tag().empty() && !dialog_) {
            Dialog d;
            if (!Dialog::from_uac(r, core->contact(transport_), d)) dialog_ = d;
        }
        if (cancel_requested_ && state_ != State::terminating) {
            send_cancel();
            return;
        }
        if (state_ == State::calling && code > 100) state_ = State::early;
        if (handlers_.on_progress) handlers_.on_progress(code, r.reason());
        return;
    }
    if (code < 300) {
        if (!ack_wire_.empty()) {
            on_2xx_retransmission(r);
            return;
        }
        // §13.2.2.4: the UAC core ACKs the 2xx itself, to the remote target.
        Dialog d;
        if (Dialog::from_uac(r, core->contact(transport_), d)) {
            close(502, "Invalid 2xx response");
            return;
        }
        if (dialog_ && dialog_->remote_tag == d.remote_tag) {
            dialog_->confirm(r, true);
        } else {
            dialog_ = d;
        }
        remote_sdp_ = r.body();
        auto ack = dialog_->make_ack(invite_cseq_);
        ack_dest_ = in_dialog_destination();
        ack.add_front("Via",
                      core->layer->via_value(core->layer->make_branch(), ack_dest_.transport));
        core->decorate(ack);
        ack_wire_ = ack.to_string();
        (void)core->layer->send(ack_wire_, ack_dest_);
        if (cancel_requested_) {
            // CANCEL lost the race against the 2xx (§9.1): end the call with a BYE.
            state_ = State::confirmed;
            send_bye();
            return;
        }
        state_ = State::confirmed;
        if (handlers_.on_established) handlers_.on_established(remote_sdp_);
        return;
    }
    if (state_ == State::terminated) return;
    close(code, std::string(r.reason()));
}

void Session::on_2xx_retransmission(const Message& r) {
    // §13.2.2.4: the same ACK again, chosen by the CSeq of the INVITE the 2xx answers.
    auto core = core_.lock();
    if (!core) return;
    const uint32_t n = r.cseq().number;
    if (!reack_wire_.empty() && n == reack_cseq_) {
        (void)core->layer->send(reack_wire_, reack_dest_);
    } else if (!ack_wire_.empty() && n == invite_cseq_) {
        (void)core->layer->send(ack_wire_, ack_dest_);
    }
}

void Session::on_ack(const Message& ack) {
    if (!ok_pending_ || ack.cseq().number != ok_cseq_) return;
    auto self = shared_from_this();
    ok_pending_ = false;
    if (ok_timer_) ok_timer_->cancel();
    if (ok_timeout_) ok_timeout_->cancel();
    if (state_ != State::accepted) {
        // ACK of a re-INVITE 2xx. With an offerless re-INVITE our 200 held the offer and
        // the ACK carries the answer (RFC 3261 §13.2.1).
        if (ok_wants_answer_ && !ack.body().empty()) remote_sdp_ = ack.body();
        return;
    }
    state_ = State::confirmed;
    if (remote_sdp_.empty() && !ack.body().empty()) remote_sdp_ = ack.body();
    if (handlers_.on_established) handlers_.on_established(remote_sdp_);
    if (bye_after_ack_ && state_ == State::confirmed) send_bye();
}

void Session::on_bye(const std::shared_ptr<ServerTransaction>& txn, const Message& bye) {
    auto core = core_.lock();
    if (!core) return;
    auto self = shared_from_this();
    txn->respond(core->response(bye, 200, {}, {}));
    // An unanswered INVITE ends with 487 (§15.1.2).
    if (server_txn_ && (state_ == State::incoming || state_ == State::early))
        server_txn_->respond(core->response(*request_, 487, {}, local_tag_));
    close(200, "Remote hangup");
}

void Session::on_cancel() {
    auto core = core_.lock();
    if (!core || (state_ != State::incoming && state_ != State::early)) return;
    server_txn_->respond(core->response(*request_, 487, {}, local_tag_));
    close(487, "Cancelled by caller");
}

// ------------------------------------------------------------ re-INVITE (RFC 3261 §14)

void Session::reinvite(std::string sdp_offer,
                       std::function<void(int status, std::string answer_sdp)> done) {
    auto core = core_.lock();
    auto refuse = [&](int code) {
        // Posted so that done never runs inside reinvite(); nothing is sent.
        if (core && done) asio::post(core->io, [d = std::move(done), code] { d(code, {}); });
    };
    if (!core || !core->started || state_ != State::confirmed || !dialog_ || sdp_offer.empty()) {
        refuse(500);
        return;
    }
    // §14.1: no new INVITE transaction while another is in progress in either direction.
    if (reinvite_out_ || ok_pending_ || reoffer_running_) {
        refuse(491);
        return;
    }
    dialog_->local_contact = core->contact(transport_);  // may have changed (set_advertised)
    auto inv = dialog_->make_request("INVITE");          // §12.2.1.1, CSeq + 1
    inv.add("Allow", core->allow());
    core->decorate(inv);
    inv.set_body(sdp_offer, "application/sdp");
    reinvite_cseq_ = dialog_->local_cseq;
    reinvite_offer_ = std::move(sdp_offer);
    reinvite_done_ = std::move(done);
    reinvite_out_ = true;
    reinvite_txn_ = core->layer->send_request(std::move(inv), in_dialog_destination(),
                                              [w = weak_from_this()](const Message& r) {
                                                  if (auto s = w.lock()) s->on_reinvite_response(r);
                                              });
}

void Session::finish_reinvite(int status, std::string answer) {
    reinvite_out_ = false;
    reinvite_offer_.clear();
    auto done = std::move(reinvite_done_);
    reinvite_done_ = nullptr;
    if (done) done(status, std::move(answer));
}

void Session::on_reinvite_response(const Message& r) {
    auto core = core_.lock();
    if (!core || state_ == State::terminated) return;
    auto self = shared_from_this();
    const int code = r.status();
    if (code < 200) return;
    if (code < 300) {
        if (!reack_wire_.empty() && r.cseq().number == reack_cseq_) {
            on_2xx_retransmission(r);  // RFC 6026: retransmitted 2xx, ACK again
            return;
        }
        if (!reinvite_out_ || r.cseq().number != reinvite_cseq_ || !dialog_) return;
        dialog_->update_remote_target(r);  // §12.2.1.2: a 2xx to a target refresh
        // §13.2.2.4: the ACK has the INVITE's CSeq number and its own branch.
        auto ack = dialog_->make_ack(reinvite_cseq_);
        reack_dest_ = in_dialog_destination();
        ack.add_front("Via",
                      core->layer->via_value(core->layer->make_branch(), reack_dest_.transport));
        core->decorate(ack);
        reack_wire_ = ack.to_string();
        reack_cseq_ = reinvite_cseq_;
        (void)core->layer->send(reack_wire_, reack_dest_);
        local_sdp_ = std::move(reinvite_offer_);
        std::string answer(r.body());
        if (!answer.empty()) remote_sdp_ = answer;
        finish_reinvite(code, std::move(answer));
        return;
    }
    if (!reinvite_out_) return;
    finish_reinvite(code, {});
    // §12.2.1.2: 481 or 408 to a request in the dialog ends the dialog. After a 408 the peer
    // may still have it, so it also gets a BYE.
    if ((code == 481 || code == 408) && state_ == State::confirmed) {
        if (code == 408) send_bye();
        std::string reason(r.reason());
        close(code, reason.empty() ? std::string(reason_phrase(code)) : reason);
    }
}

void Session::on_reinvite(const std::shared_ptr<ServerTransaction>& txn, const Message& req) {
    auto core = core_.lock();
    if (!core) return;
    auto self = shared_from_this();
    auto reply = [&](int code, std::string_view reason = {}) {
        txn->respond(core->response(req, code, reason, local_tag_));
    };
    // §14.2 glare: our own INVITE on this dialog (re-INVITE, or the initial one while the
    // dialog is early) has no final response yet.
    if (reinvite_out_ || reoffer_running_ ||
        (role_ == Role::uac && (state_ == State::calling || state_ == State::early))) {
        reply(491);
        return;
    }
    // §14.2: an earlier INVITE from the peer is not finished (no final response yet, or our
    // 2xx still waits for its ACK): 500 with Retry-After 0-10 s.
    if (state_ == State::incoming || state_ == State::early || state_ == State::accepted ||
        ok_pending_) {
        auto r = core->response(req, 500, "Previous INVITE not completed", local_tag_);
        std::string tok = core->layer->random_token(4);
        unsigned v = 0;
        std::from_chars(tok.data(), tok.data() + tok.size(), v, 16);
        r.add("Retry-After", std::to_string(v % 11));
        txn->respond(r);
        return;
    }
    if (state_ != State::confirmed || !dialog_) {
        reply(481);  // BYE or CANCEL already sent: the dialog is gone for us
        return;
    }
    auto handler = handlers_.on_reoffer;  // a copy: the handler may replace the handlers
    if (!handler) {
        reply(488);
        return;
    }
    std::string offer(req.body());
    reoffer_running_ = true;
    std::weak_ptr<Session> weak = self;
    auto once = std::make_shared<bool>(false);
    handler(offer, [weak, txn, req, once](std::string sdp) {
        if (*once) return;
        *once = true;
        if (auto s = weak.lock()) s->answer_reinvite(txn, req, std::move(sdp));
    });
}

void Session::answer_reinvite(const std::shared_ptr<ServerTransaction>& txn, const Message& req,
                              std::string sdp) {
    auto core = core_.lock();
    if (!core) return;
    reoffer_running_ = false;
    auto reply = [&](int code, std::string_view reason = {}) {
        txn->respond(core->response(req, code, reason, local_tag_));
    };
    std::string offer(req.body());
    if (state_ != State::confirmed || !dialog_) {
        reply(487);  // the dialog ended while the answer was being prepared
        return;
    }
    if (sdp.empty()) {
        reply(488);  // §14.2: the dialog and the old session stay as they were
        return;
    }
    dialog_->update_remote_target(req);  // §12.2.2: target refresh
    dialog_->local_contact = core->contact(transport_);
    auto ok = core->response(req, 200, {}, local_tag_);
    ok.add("Contact", "<" + core->contact(transport_) + ">");
    ok.add("Allow", core->allow());
    ok.set_body(sdp, "application/sdp");
    // Offer/answer is complete once the 200 is sent (for an offerless re-INVITE the answer
    // comes with the ACK).
    if (!offer.empty()) remote_sdp_ = std::move(offer);
    local_sdp_ = std::move(sdp);
    ok_wants_answer_ = req.body().empty();
    txn->respond(ok);
    start_2xx_retransmission(ok.to_string(), req, txn->origin());
}

// ================================================================ UserAgent

UserAgent::UserAgent(asio::io_context& io, UaConfig config)
    : core_(std::make_shared<detail::UaCore>(io, std::move(config))) {}

UserAgent::~UserAgent() {
    stop();
}

namespace {

// UDP, and TCP on the same port number (RFC 3261 §18: a UA listens on both; the port of
// a URI without transport parameter is the same for either). With an ephemeral port the
// pair is retried until a number is free for both.
std::error_code open_transports(detail::UaCore& c) {
    if (!c.cfg.tcp) return c.transport.open(c.cfg.bind_address, c.cfg.port);
    if (c.cfg.port != 0) {
        auto tcp = std::make_unique<TcpTransport>(c.io, c.cfg.tcp_config);
        if (auto ec = tcp->open(c.cfg.bind_address, c.cfg.port)) return ec;
        if (auto ec = c.transport.open(c.cfg.bind_address, c.cfg.port)) return ec;
        c.tcp = std::move(tcp);
        return {};
    }
    std::error_code last;
    for (int attempt = 0; attempt < 32; ++attempt) {
        // A fresh TcpTransport each time: a closed one is not reopened.
        auto tcp = std::make_unique<TcpTransport>(c.io, c.cfg.tcp_config);
        if ((last = tcp->open(c.cfg.bind_address, 0))) return last;
        last = c.transport.open(c.cfg.bind_address, tcp->local_port());
        if (!last) {
            c.tcp = std::move(tcp);
            return {};
        }
    }
    return last;
}

}  // namespace

std::error_code UserAgent::start() {
    auto& c = *core_;
    if (c.started) return Errc::already_open;
    if (auto ec = open_transports(c)) return ec;
    TimerConfig t;
    t.t1 = c.cfg.t1;
    t.t2 = c.cfg.t2;
    t.t4 = c.cfg.t4;
    if (c.cfg.tls) {
        c.tls = std::make_unique<TlsTransport>(c.io, *c.cfg.tls, c.cfg.tcp_config);
        if (auto ec = c.tls->open(c.cfg.bind_address, c.cfg.tls_port)) {
            c.tls.reset();
            c.transport.close();
            if (c.tcp) c.tcp->close();
            c.tcp.reset();
            return ec;
        }
    }
    c.layer = std::make_unique<TransactionLayer>(c.io, c.transport, c.tcp.get(), t);
    c.layer->set_tls(c.tls.get());
    c.layer->set_sent_by(c.host(), c.port());
    std::weak_ptr<detail::UaCore> w = core_;
    c.layer->set_request_handler(
        [w](const std::shared_ptr<ServerTransaction>& txn, const Message& req) {
            if (auto core = w.lock()) core->on_request(txn, req);
        });
    c.layer->set_unmatched_handler([w](const Message& m, const UdpEndpoint& from) {
        if (auto core = w.lock()) core->on_unmatched(m, from);
    });
    c.started = true;
    return {};
}

uint16_t UserAgent::port() const {
    return core_->transport.local_port();
}
std::string UserAgent::contact() const {
    return core_->contact();
}
void UserAgent::set_advertised(std::string host, uint16_t port) {
    auto& c = *core_;
    c.cfg.advertised_address = std::move(host);
    c.cfg.advertised_port = port;
    if (c.layer) c.layer->set_sent_by(c.host(), c.port());
}
UdpTransport* UserAgent::transport() {
    return core_->started ? &core_->transport : nullptr;
}
TcpTransport* UserAgent::tcp_transport() {
    return core_->started ? core_->tcp.get() : nullptr;
}
TlsTransport* UserAgent::tls_transport() {
    return core_->started ? core_->tls.get() : nullptr;
}
const UaConfig& UserAgent::config() const {
    return core_->cfg;
}
std::size_t UserAgent::session_count() const {
    return core_->sessions.size();
}
TransactionLayer* UserAgent::transactions() {
    return core_->layer.get();
}

void UserAgent::on_incoming(std::function<void(std::shared_ptr<Session>)> handler) {
    core_->on_incoming = std::move(handler);
}

void UserAgent::on_message(std::function<void(const InstantMessage&)> handler) {
    core_->on_message = std::move(handler);
}

void UserAgent::send_message(const Uri& request_uri, const std::string& to_aor,
                             std::string content_type, std::string body,
                             std::function<void(int status, std::string reason)> done) {
    auto& c = *core_;
    Destination dest;
    if (auto err = c.destination_of(request_uri, dest)) {
        asio::post(c.io, [done = std::move(done), err] {
            if (done) done(503, err.message());
        });
        return;
    }
    const NameAddr from = c.local_from(c.layer->random_token(10));
    NameAddr to;
    const std::string to_value = !parse_name_addr(to_aor, to) ? to.to_string() : "<" + to_aor + ">";
    // RFC 3428 §4: a MESSAGE is a non-INVITE request outside any dialog; no Contact.
    auto msg = OutgoingMessage::request("MESSAGE", request_uri.to_string());
    msg.add("Max-Forwards", "70");
    msg.add("From", from.to_string());
    msg.add("To", to_value);
    msg.add("Call-ID", c.layer->random_token(20) + "@" + c.host());
    msg.add("CSeq", "1 MESSAGE");
    c.decorate(msg);
    msg.set_body(std::move(body), content_type.empty() ? "text/plain" : std::move(content_type));
    auto once = std::make_shared<std::function<void(int, std::string)>>(std::move(done));
    c.layer->send_request(std::move(msg), dest, [once](const Message& r) {
        if (r.status() < 200 || !*once) return;
        auto fn = std::move(*once);
        *once = nullptr;
        fn(r.status(), std::string(r.reason()));
    });
}

void UserAgent::stop() {
    auto& c = *core_;
    if (!c.started) return;
    c.started = false;
    auto sessions = std::move(c.sessions);
    c.sessions.clear();
    for (auto& [k, s] : sessions) {
        s->state_ = Session::State::terminated;
        s->handlers_ = {};
        s->reinvite_done_ = nullptr;
        s->reinvite_out_ = false;
        s->ok_pending_ = false;
        if (s->ok_timer_) s->ok_timer_->cancel();
        if (s->ok_timeout_) s->ok_timeout_->cancel();
    }
    if (c.layer) c.layer->shutdown();
    c.transport.close();
    if (c.tcp) c.tcp->close();
    if (c.tls) c.tls->close();
}

std::shared_ptr<Session> UserAgent::invite(const Uri& request_uri, const std::string& to_aor,
                                           std::string sdp_offer, SessionHandlers handlers) {
    return invite(request_uri, to_aor, std::move(sdp_offer), std::move(handlers), {});
}

void UserAgent::on_request(std::string method, RequestHandler handler) {
    if (handler) {
        core_->request_handlers[std::move(method)] = std::move(handler);
    } else {
        core_->request_handlers.erase(method);
    }
}

std::shared_ptr<Session> UserAgent::invite(const Uri& request_uri, const std::string& to_aor,
                                           std::string sdp_offer, SessionHandlers handlers,
                                           InviteOptions options) {
    auto& c = *core_;
    auto s = std::make_shared<Session>(core_, Session::Role::uac);
    s->handlers_ = std::move(handlers);
    s->local_sdp_ = sdp_offer;
    Destination target;
    if (auto err = c.destination_of(request_uri, target)) {
        asio::post(c.io, [s, err] { s->close(503, err.message()); });
        return s;
    }
    const UdpEndpoint dest = target.endpoint;
    const TransportKind kind = target.transport;
    s->call_id_ = c.layer->random_token(20) + "@" + c.host();
    s->local_tag_ = c.layer->random_token(10);
    s->key_ = s->call_id_ + ";" + s->local_tag_;
    s->remote_ep_ = dest;
    s->transport_ = kind;
    s->invite_cseq_ = 1;

    NameAddr from = c.local_from(s->local_tag_);
    if (!options.from_aor.empty()) {
        // B2BUA leg: the original caller's AOR (RFC 3261 §8.1.1.3 lets the From be any
        // identity the UA stands for).
        Uri u;
        if (parse_uri(options.from_aor, u) || !u.is_sip()) {
            asio::post(c.io, [s] { s->close(400, "Invalid From AOR"); });
            return s;
        }
        u.params.clear();
        u.headers.clear();
        from.uri = std::move(u);
    }
    if (!options.from_display.empty()) from.display = options.from_display;
    NameAddr to;
    std::string to_value;
    if (!parse_name_addr(to_aor, to)) {
        to_value = to.to_string();
        s->to_aor_ = canonical_aor(to.uri);
    } else {
        to_value = "<" + to_aor + ">";
        s->to_aor_ = to_aor;
    }
    s->from_aor_ = canonical_aor(from.uri);
    s->from_display_ = from.display;

    auto inv = OutgoingMessage::request("INVITE", request_uri.to_string());
    inv.add("Max-Forwards", "70");
    inv.add("From", from.to_string());
    inv.add("To", to_value);
    inv.add("Call-ID", s->call_id_);
    inv.add("CSeq", "1 INVITE");
    inv.add("Contact", "<" + c.contact(kind) + ">");
    inv.add("Allow", c.allow());
    for (auto& [n, v] : options.headers) inv.add(n, std::move(v));
    c.decorate(inv);
    if (!sdp_offer.empty()) inv.set_body(std::move(sdp_offer), "application/sdp");
    c.sessions[s->key_] = s;
    std::weak_ptr<Session> w = s;
    s->invite_txn_ =
        c.layer->send_request(std::move(inv), Destination(dest, kind), [w](const Message& r) {
            if (auto sp = w.lock()) sp->on_invite_response(r);
        });
    return s;
}

}  // namespace p2psip::sip
