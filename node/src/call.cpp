#include "call.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <random>

#include "p2psip/overlay/error.hpp"
#include "p2psip/sip/uri.hpp"

namespace p2psip::node {

namespace {

std::string host_of_bind(const std::string& bind) {
    return bind == "0.0.0.0" ? "" : bind;
}

}  // namespace

bool is_ip_literal(const std::string& host) {
    boost::system::error_code ec;
    asio::ip::make_address(
        host.size() > 1 && host.front() == '[' ? host.substr(1, host.size() - 2) : host, ec);
    return !ec;
}

bool is_direct_uri(const std::string& target) {
    std::string text = target;
    if (text.rfind("sip:", 0) != 0 && text.rfind("sips:", 0) != 0) text = "sip:" + text;
    sip::Uri uri;
    return !sip::parse_uri(text, uri) && !uri.host.empty() && is_ip_literal(uri.host);
}

Call::Call(CallEnv& env, EndedFn ended)
    : env_(env),
      ended_fn_(std::move(ended)),
      ice_timer_(env.io),
      duration_timer_(env.io),
      watchdog_(env.io),
      retry_timer_(env.io) {
    report_.local_aor = env.local_aor;
}

Call::~Call() {
    if (media_) media_->stop();
    if (ice_) ice_->close();
    if (pending_ice_) pending_ice_->close();
}

double Call::since_dial() const {
    return std::chrono::duration<double, std::milli>(Clock::now() - dial_at_).count();
}

std::shared_ptr<Call> Call::dial(CallEnv& env, const std::string& target, EndedFn ended,
                                 std::shared_ptr<BridgeHooks> bridge) {
    auto call = std::shared_ptr<Call>(new Call(env, std::move(ended)));
    call->bridge_ = std::move(bridge);
    if (call->bridge_) call->report_.local_aor = call->bridge_->from_aor;
    call->start_dial(target);
    return call;
}

std::shared_ptr<Call> Call::incoming(CallEnv& env, std::shared_ptr<sip::Session> session,
                                     EndedFn ended, std::shared_ptr<BridgeHooks> bridge) {
    auto call = std::shared_ptr<Call>(new Call(env, std::move(ended)));
    call->bridge_ = std::move(bridge);
    if (call->bridge_) call->report_.local_aor = session->to_aor();
    call->start_incoming(std::move(session));
    return call;
}

// ---- outgoing ---------------------------------------------------------------------------

void Call::start_dial(const std::string& target) {
    report_.direction = "outgoing";
    dial_at_ = Clock::now();
    std::string text = target;
    if (text.rfind("sip:", 0) != 0 && text.rfind("sips:", 0) != 0) text = "sip:" + text;
    sip::Uri uri;
    if (sip::parse_uri(text, uri) || uri.host.empty()) {
        report_.peer_aor = target;
        // Not posted: the caller gets the report through ended_fn_ after dial() returns.
        asio::post(env_.io, [self = shared_from_this(), target] {
            self->end(400, fmt::format("'{}' is not a SIP address", target));
        });
        return;
    }
    report_.peer_aor = sip::canonical_aor(uri);

    if (is_ip_literal(uri.host)) {
        // A direct URI (sip:bob@127.0.0.1:5070) needs no DHT.
        // Whoever is there may be a plain SIP phone: offer a plain media path, no ICE.
        env_.log->info("dialing {} directly", uri.to_string());
        asio::post(env_.io, [self = shared_from_this(), uri] { self->place_invite(uri, false); });
        return;
    }
    env_.log->info("dialing {}: looking up its binding in the DHT", report_.peer_aor);
    // A DHT binding is a p2psip node, which takes ICE: gather while the lookup runs (TURN
    // allocation costs two round trips to the server).
    if (!make_ice(true, [weak = weak()] {
            auto self = weak.lock();
            if (!self || self->ended_) return;
            self->gathered_ = true;
            if (self->invite_to_) self->send_offer(*self->invite_to_);
        }))
        return;
    auto opts = lookup_options(env_.options);
    if (env_.known_peers) opts.pinned_owner = env_.known_peers->find(report_.peer_aor);
    if (opts.pinned_owner)
        env_.log->debug("{} was called before: trusting key {}", report_.peer_aor,
                        opts.pinned_owner->toString());
    overlay::lookup(env_.dht, report_.peer_aor, opts,
                    [weak = weak()](std::error_code ec, overlay::LookupResult result) {
                        if (auto self = weak.lock()) self->on_lookup(ec, result);
                    });
}

void Call::on_lookup(std::error_code ec, const overlay::LookupResult& result) {
    if (ended_) return;
    report_.lookup_ms = since_dial();
    if (ec) {
        const bool not_found = ec == overlay::errc::not_found;
        const int status = not_found ? 404 : 480;
        const std::string phrase = not_found ? "Not Found" : "Temporarily Unavailable";
        env_.log->warn("lookup of {} failed after {:.0f} ms: {}", report_.peer_aor,
                       *report_.lookup_ms, ec.message());
        end(status, fmt::format("{} {}: {} ({} ignored records)", status, phrase, ec.message(),
                                result.ignored));
        return;
    }
    const auto& binding = result.bindings.front();
    owner_ = result.owner;
    env_.log->info(
        "found {} in {:.0f} ms: held by key {}, contacts {} ({} instance(s), {} "
        "ignored, {} DHT get(s){})",
        report_.peer_aor, *report_.lookup_ms, result.owner.toString(),
        fmt::join(binding.contacts, ", "), result.bindings.size(), result.ignored, result.gets,
        binding.inbox ? ", DHT inbox" : "");
    std::optional<sip::Uri> contact;
    if (env_.signaling) {
        contact = env_.signaling->route_to(binding);
    } else if (sip::Uri uri;
               !binding.contacts.empty() && !sip::parse_uri(binding.contacts[0], uri)) {
        contact = uri;
    }
    if (!contact) {
        end(480, "480 Temporarily Unavailable: the binding has no usable contact");
        return;
    }
    place_invite(*contact, true);  // a DHT binding is a p2psip node: ICE
}

bool Call::make_ice(bool controlling, std::function<void()> gathered) {
    std::error_code ec;
    ice_ = new_ice_agent(controlling, ec);
    if (ec || !ice_) {
        end(500, fmt::format("500 ICE agent could not start: {}", ec.message()));
        return false;
    }
    ice_->on_state([weak = weak()](nat::IceState s) {
        if (auto self = weak.lock()) self->on_ice_state(s);
    });
    // From now on: a DTLS ClientHello may come before our side sees the path as ready.
    ice_->on_receive([weak = weak()](std::span<const uint8_t> packet) {
        if (auto self = weak.lock()) self->on_datagram(packet);
    });
    ice_->gather([weak = weak(), gathered = std::move(gathered)](std::error_code gec) {
        auto self = weak.lock();
        if (!self || self->ended_) return;
        if (gec) {
            self->end(500, fmt::format("500 ICE gathering failed: {}", gec.message()));
            return;
        }
        self->local_.ice = self->ice_->local_credentials();
        self->local_.candidates = self->ice_->local_candidates();
        self->env_.log->debug("ICE gathered {} candidate(s)", self->local_.candidates.size());
        gathered();
    });
    return true;
}

std::shared_ptr<nat::IceAgent> Call::new_ice_agent(bool controlling, std::error_code& ec) {
    nat::IceConfig cfg;
    cfg.controlling = controlling;
    if (auto host = host_of_bind(env_.options.bind_address); !host.empty())
        cfg.local_addresses = {host};
    const auto& o = env_.options;
    cfg.servers.stun_host = o.stun_host;
    cfg.servers.stun_port = o.stun_port;
    cfg.servers.turn_host = o.turn_host;
    cfg.servers.turn_port = o.turn_port;
    cfg.servers.turn_user = o.turn_user;
    cfg.servers.turn_password = o.turn_password;
    return nat::IceAgent::create(env_.io, cfg, ec);
}

bool Call::make_plain_path() {
    std::error_code ec;
    udp_ = nat::UdpPath::open(env_.io, host_of_bind(env_.options.bind_address), ec);
    if (!udp_) {
        end(500, fmt::format("500 media socket could not open: {}", ec.message()));
        return false;
    }
    local_.use_ice = false;
    local_.address = udp_->local_address();
    local_.port = udp_->local_port();
    udp_->on_receive([weak = weak()](std::span<const uint8_t> packet) {
        if (auto self = weak.lock()) self->on_datagram(packet);
    });
    return true;
}

void Call::start_plain_media() {
    if (auto ec = udp_->set_remote(remote_.address, remote_.port)) {
        hangup(fmt::format("the peer's media address {}:{} is unusable", remote_.address,
                           remote_.port));
        return;
    }
    start_media();
}

void Call::place_invite(const sip::Uri& contact, bool use_ice) {
    if (ended_) return;
    report_.peer_contact = contact.to_string();
    local_.codecs = bridge_ ? bridge_->codecs : codec_table(env_.options.codecs);
    if (env_.options.srtp) {
        local_.key = media::generate_key();
        if (!local_.key) {
            end(500, "500 no SRTP key could be generated");
            return;
        }
        if (env_.dtls) local_.fingerprint = env_.dtls_fingerprint;
    }
    invite_to_ = contact;
    if (use_ice) {
        if (gathered_) send_offer(contact);  // else when gathering ends (start_dial)
    } else if (make_plain_path()) {
        send_offer(contact);
    }
}

void Call::send_offer(const sip::Uri& contact) {
    if (ended_ || session_) return;
    auto offer = build_offer(local_);
    env_.log->info("sending INVITE to {}", contact.to_string());
    // SIP over TLS to a node found in the DHT: its certificate must be the binding's key.
    if (env_.tls_check && owner_ && sip::uri_transport(contact) == sip::TransportKind::tls) {
        asio::ip::udp::endpoint ep;
        if (!sip::make_endpoint(contact.host, contact.port ? contact.port : 5061, ep)) {
            env_.tls_check->expect(ep, *owner_, report_.peer_aor);
            tls_ep_ = ep;
            // A connection that is already up (reused, RFC 3261 §18) had its handshake
            // judged against someone else's expectation, or none: judge it for this call.
            auto* tls = env_.ua.tls_transport();
            if (tls && tls->has_connection(ep) &&
                env_.tls_check->check(ep, tls->peer_certificates(ep))) {
                end(503, env_.tls_check->refusal(ep));
                return;
            }
        }
    }
    sip::InviteOptions opts;
    if (bridge_) {
        opts.from_aor = bridge_->from_aor;
        opts.from_display = bridge_->from_display;
    }
    session_ = env_.ua.invite(contact, report_.peer_aor, offer, {}, std::move(opts));
    if (!session_) {
        end(500, "500 INVITE could not be sent");
        return;
    }
    report_.call_id = session_->call_id();
    report_.sip_transport = sip::to_string(session_->transport_kind());
    peer_ep_ = session_->remote_endpoint();
    set_session_handlers();
}

void Call::set_session_handlers() {
    sip::SessionHandlers h;
    h.on_progress = [weak = weak()](int status, std::string_view reason) {
        auto self = weak.lock();
        if (!self || self->ended_) return;
        if ((status == 180 || status == 183) && !self->report_.ringing_ms) {
            self->report_.ringing_ms = self->since_dial();
            self->env_.log->info("{} {} after {:.0f} ms", status, reason,
                                 *self->report_.ringing_ms);
        }
        if (self->bridge_ && self->bridge_->on_progress) self->bridge_->on_progress(status, reason);
    };
    h.on_established = [weak = weak()](std::string_view sdp) {
        auto self = weak.lock();
        if (!self || self->ended_) return;
        if (!self->incoming_)
            self->on_answer_sdp(sdp);
        else
            self->env_.log->info("ACK received: call established");
    };
    h.on_reoffer = [weak = weak()](std::string_view offer,
                                   std::function<void(std::string)> respond) {
        auto self = weak.lock();
        if (!self || self->ended_) return respond({});
        self->on_reoffer(offer, std::move(respond));
    };
    h.on_closed = [weak = weak()](int status, std::string reason) {
        auto self = weak.lock();
        if (!self || self->ended_) return;
        self->session_.reset();  // the dialog is over; nothing more to send on it
        if (self->tls_ep_) {
            // A TLS peer that failed the identity check never saw our INVITE: say why.
            if (auto why = self->env_.tls_check->refusal(*self->tls_ep_); !why.empty())
                return self->end(status, why);
        }
        self->end(status, fmt::format("{} {}", status, reason));
    };
    session_->set_handlers(std::move(h));
}

void Call::on_answer_sdp(std::string_view sdp) {
    answered_ = true;
    report_.answered = true;
    report_.status = 200;
    report_.answer_ms = since_dial();
    env_.log->info("answered after {:.0f} ms", *report_.answer_ms);
    if (tls_ep_) {
        report_.tls_peer = env_.tls_check->verified(*tls_ep_);
        env_.log->info("SIP over TLS: {}", report_.tls_peer);
    }
    if (owner_ && env_.known_peers && !env_.known_peers->find(report_.peer_aor)) {
        if (env_.known_peers->remember(report_.peer_aor, *owner_))
            env_.log->info("remembered {} as the key of {} (known_peers)", owner_->toString(),
                           report_.peer_aor);
    }
    std::string why;
    if (!read_answer(std::string(sdp), local_, remote_, why)) {
        hangup("unusable answer: " + why);
        return;
    }
    // A node found through its signed DHT binding must prove that key in a DTLS handshake;
    // an answer that falls back to SDES there would let an on-path attacker choose the keys.
    if (owner_ && !local_.fingerprint.empty() && remote_.keying != Keying::dtls) {
        hangup("the answer does not use DTLS-SRTP, which a p2psip node found in the DHT must");
        return;
    }
    if (bridge_ && bridge_->on_answered) bridge_->on_answered(remote_);
    if (ended_) return;
    if (udp_) {
        start_plain_media();  // we offered no ICE: media goes to the answer's address
    } else if (!remote_.use_ice) {
        hangup("the answer has no ICE, which a p2psip peer must offer");
    } else {
        start_ice_checks("answer");
    }
}

void Call::start_ice_checks(const char* sdp_kind) {
    if (auto ec = ice_->set_remote(remote_.ice, remote_.candidates)) {
        hangup(fmt::format("ICE could not use the {}'s candidates: {}", sdp_kind, ec.message()));
        return;
    }
    ice_remote_set_ = true;
    ice_timer_.expires_after(std::chrono::milliseconds(env_.options.ice_timeout_ms));
    ice_timer_.async_wait([weak = weak()](const boost::system::error_code& ec) {
        auto self = weak.lock();
        if (!ec && self && !self->media_at_ && !self->ended_)
            self->hangup("ICE found no working path in time");
    });
}

// ---- incoming ---------------------------------------------------------------------------

void Call::start_incoming(std::shared_ptr<sip::Session> session) {
    incoming_ = true;
    report_.direction = "incoming";
    session_ = std::move(session);
    report_.peer_aor = session_->from_aor();
    report_.call_id = session_->call_id();
    report_.sip_transport = sip::to_string(session_->transport_kind());
    peer_ep_ = session_->remote_endpoint();
    set_session_handlers();
    offer_ = session_->remote_sdp();
    env_.log->info("incoming call from {} ({})", report_.peer_aor, report_.call_id);

    local_.codecs = bridge_ ? bridge_->codecs : codec_table(env_.options.codecs);
    if (env_.dtls) local_.fingerprint = env_.dtls_fingerprint;
    auto ring = [this] {
        if (bridge_) {  // the phone rings, not us: the bridge calls ringing() and answer()
            if (bridge_->on_ready) bridge_->on_ready();
            return;
        }
        session_->ringing();
        report_.ringing_ms = since_dial();
        env_.log->info("ringing{}", env_.options.auto_answer ? "" : ": type 'answer' to pick up");
        if (env_.options.auto_answer) answer();
    };
    if (sdp_uses_ice(offer_)) {
        make_ice(false, ring);
    } else if (make_plain_path()) {
        env_.log->info("the caller offers no ICE: plain media path");
        ring();
    }
}

void Call::ringing() {
    if (!incoming_ || answered_ || ended_ || !session_) return;
    session_->ringing();
    if (!report_.ringing_ms) report_.ringing_ms = since_dial();
}

void Call::answer() {
    if (!incoming_ || answered_ || ended_ || !session_) return;
    if (local_.use_ice && local_.candidates.empty()) return;  // still gathering
    if (bridge_) local_.codecs = bridge_->codecs;             // what the phone took
    std::string answer_sdp, why;
    int status = 488;
    if (!build_answer(offer_, local_, !env_.options.srtp, remote_, answer_sdp, status, why)) {
        env_.log->warn("cannot answer: {} {}", status, why);
        session_->reject(status, why);
        end(status, fmt::format("{} {}", status, why));
        return;
    }
    answered_ = true;
    report_.answered = true;
    report_.status = 200;
    session_->accept(answer_sdp);
    report_.answer_ms = since_dial();
    env_.log->info("answered");
    if (udp_)
        start_plain_media();
    else
        start_ice_checks("offer");
}

// ---- media ------------------------------------------------------------------------------

void Call::on_ice_state(nat::IceState state) {
    if (ended_) return;
    env_.log->debug("ICE state {}", nat::to_string(state));
    if (state == nat::IceState::connected && !media_ && ice_remote_set_) {
        start_media();
    } else if (state == nat::IceState::failed && ice_remote_set_) {
        if (media_)
            start_ice_restart("ICE consent lost");  // RFC 7675 §5.1: the path is gone
        else
            hangup("ICE failed: no candidate pair works");
    }
}

void Call::start_media() {
    media_at_ = Clock::now();
    report_.ice_ms = since_dial();
    note_pair(udp_ ? udp_->description() : ice_->selected_pair());
    ice_timer_.cancel();
    env_.log->info("{} after {:.0f} ms: {}",
                   udp_ ? "plain media path (no ICE) ready" : "ICE connected", *report_.ice_ms,
                   report_.ice_pair);
    if (remote_.keying == Keying::dtls) {
        start_dtls();
    } else {
        const bool sdes = remote_.keying == Keying::sdes;
        run_audio(sdes ? local_.key : std::nullopt, sdes ? remote_.key : std::nullopt,
                  sdes && local_.key ? local_.key->suite : "");
    }
}

void Call::on_datagram(std::span<const uint8_t> packet) {
    switch (media::classify_packet(packet)) {
        case media::PacketClass::dtls:
            if (dtls_) {
                dtls_->on_packet(packet);
            } else if (!media_ && early_dtls_.size() < 8) {
                early_dtls_.emplace_back(packet.begin(), packet.end());
            }
            break;
        case media::PacketClass::rtp_rtcp:
            ++rx_datagrams_;
            if (bridge_media_ && bridge_->on_packet)
                bridge_->on_packet(packet);
            else if (media_)
                media_->on_packet(packet);
            break;
        default:
            break;  // STUN is libnice's; anything else is not ours
    }
}

void Call::send_datagram(std::span<const uint8_t> packet) {
    // Through whichever agent is current: an ICE restart replaces ice_ mid-call.
    if (udp_)
        udp_->send(packet);
    else if (ice_)
        (void)ice_->send(packet);
}

void Call::start_dtls() {
    media::DtlsSrtpConfig cfg;
    cfg.role = remote_.dtls_client ? media::DtlsRole::client : media::DtlsRole::server;
    cfg.credentials = *env_.dtls;
    cfg.peer_fingerprint = remote_.fingerprint;
    env_.log->debug("DTLS handshake as {}", remote_.dtls_client ? "client" : "server");
    dtls_ = std::make_unique<media::DtlsSrtpSession>(
        env_.io, std::move(cfg),
        [weak = weak()](std::span<const uint8_t> packet) {
            if (auto self = weak.lock()) self->send_datagram(packet);
        },
        [weak = weak()](std::error_code ec, const media::DtlsSrtpResult& result) {
            if (auto self = weak.lock()) self->on_dtls_done(ec, result);
        });
    if (auto ec = dtls_->start()) {
        hangup("DTLS-SRTP could not start: " + ec.message());
        return;
    }
    auto early = std::move(early_dtls_);
    early_dtls_.clear();
    for (const auto& packet : early)
        if (dtls_) dtls_->on_packet(packet);
}

void Call::on_dtls_done(std::error_code ec, const media::DtlsSrtpResult& result) {
    if (ended_) return;
    if (ec) {
        hangup("DTLS-SRTP failed: " + ec.message());
        return;
    }
    if (auto problem = check_peer_key(result); !problem.empty()) {
        hangup("DTLS-SRTP failed: " + problem);
        return;
    }
    env_.log->info("DTLS-SRTP keyed ({}) after {:.0f} ms; peer {}", result.suite, since_dial(),
                   report_.dtls_peer);
    run_audio(result.tx_key, result.rx_key, result.suite);
}

std::string Call::check_peer_key(const media::DtlsSrtpResult& peer) {
    // The key that vouches for the handshake: the issuer of the peer's certificate when it
    // sent one (a p2psip node: its identity), else the certificate's own key.
    if (!peer.peer_issuer_der.empty()) {
        if (auto ec = media::verify_issued_by(peer.peer_certificate_der, peer.peer_issuer_der))
            return ec.message();
    }
    dht::InfoHash id;
    try {  // OpenDHT reports a key it cannot read by throwing
        id = peer.peer_issuer_der.empty() ? dht::crypto::PublicKey(peer.peer_public_key_der).getId()
                                          : dht::crypto::Certificate(peer.peer_issuer_der).getId();
    } catch (const std::exception& e) {
        return fmt::format("the peer's certificate key is unreadable ({})", e.what());
    }
    // The key that signed the callee's binding, else one pinned for this AOR earlier.
    std::optional<dht::InfoHash> expected = owner_;
    const char* source = "holds the DHT binding of";
    if (!expected && env_.known_peers) {
        expected = env_.known_peers->find(report_.peer_aor);
        source = "is pinned (known_peers) for";
    }
    if (!expected) {
        report_.dtls_peer = fmt::format("key {}: certificate matches a=fingerprint", id.toString());
        return {};
    }
    if (id != *expected)
        return fmt::format("the peer's certificate key {} is not the key {} that {} {}",
                           id.toString(), expected->toString(), source, report_.peer_aor);
    report_.dtls_peer = fmt::format("key {} {} {}", id.toString(), source, report_.peer_aor);
    return {};
}

void Call::run_audio(std::optional<media::SrtpKeyMaterial> tx,
                     std::optional<media::SrtpKeyMaterial> rx, const std::string& suite) {
    if (ended_ || media_ || bridge_media_) return;
    if (bridge_) {
        report_.codec = fmt::format("{}/{} (pt {}), relayed", remote_.codec.name,
                                    remote_.codec.clock, remote_.codec.pt);
        report_.srtp = tx.has_value();
        report_.srtp_suite = suite;
        report_.keying = to_string(remote_.keying);
        report_.media_started = true;
        report_.audio_ms = since_dial();
        bridge_media_ = true;
        env_.log->info("overlay media ready: {}, SRTP {}", report_.codec,
                       report_.srtp ? fmt::format("on ({}, {})", suite, report_.keying) : "off");
        if (bridge_->on_media) bridge_->on_media(remote_, tx, rx);
        if (!udp_ && !ended_) {
            last_rx_change_ = Clock::now();
            watch_media();
        }
        return;
    }
    media::MediaConfig cfg;
    cfg.codec_name = remote_.codec.name;
    cfg.payload_type = remote_.codec.pt;
    cfg.clock_rate = static_cast<uint32_t>(remote_.codec.clock);
    cfg.tx_key = tx;
    cfg.rx_key = rx;
    cfg.dtmf_payload_type = remote_.dtmf_pt;
    cfg.on_dtmf = [weak = weak()](char digit) {
        auto self = weak.lock();
        if (!self) return;
        self->report_.dtmf_received.push_back(digit);
        self->env_.log->info("DTMF received: {}", digit);
    };
    std::error_code ec;
    const auto& o = env_.options;
    // A device named with --audio-device, else the default one when there is one.
    const std::string device = !o.audio_device.empty() ? "pa:" + o.audio_device
                               : env_.audio_device     ? "default"
                                                       : "null";
    std::string source_spec = !o.play.empty() ? "wav:" + o.play : device;
    std::string sink_spec = !o.record.empty() ? "wav:" + o.record : device;
    cfg.source = media::open_source(source_spec, ec);
    if (ec || !cfg.source) {
        hangup(fmt::format("cannot open audio source '{}': {}", source_spec, ec.message()));
        return;
    }
    cfg.sink = media::open_sink(sink_spec, ec);
    if (ec || !cfg.sink) {
        hangup(fmt::format("cannot open audio sink '{}': {}", sink_spec, ec.message()));
        return;
    }
    report_.codec =
        fmt::format("{}/{}{} (pt {})", remote_.codec.name, remote_.codec.clock,
                    remote_.codec.channels > 1 ? fmt::format("/{}", remote_.codec.channels) : "",
                    remote_.codec.pt);
    report_.srtp = tx.has_value();
    report_.srtp_suite = suite;
    report_.keying = to_string(remote_.keying);

    media_ = std::make_unique<media::MediaSession>(
        env_.io, std::move(cfg), [weak = weak()](std::span<const uint8_t> packet) {
            if (auto self = weak.lock()) self->send_datagram(packet);
        });
    if (auto mec = media_->start()) {
        hangup("media could not start: " + mec.message());
        return;
    }
    report_.media_started = true;
    report_.audio_ms = since_dial();
    if (local_.direction != sip::sdp::Direction::sendrecv ||
        remote_.direction != sip::sdp::Direction::sendrecv)
        apply_direction();  // e.g. a call that starts on hold
    env_.log->info("media flowing: {}, SRTP {}", report_.codec,
                   report_.srtp ? fmt::format("on ({}, {})", suite, report_.keying) : "off");
    if (!udp_) {
        last_rx_change_ = Clock::now();
        watch_media();
    }
    if (!o.dtmf.empty()) {
        if (auto problem = send_dtmf(o.dtmf); !problem.empty()) env_.log->warn("{}", problem);
    }
    if (o.duration > 0) {
        duration_timer_.expires_after(
            std::chrono::milliseconds(static_cast<long>(o.duration * 1000)));
        duration_timer_.async_wait([weak = weak()](const boost::system::error_code& ec) {
            if (auto self = weak.lock(); self && !ec) self->hangup("duration reached");
        });
    }
}

void Call::note_pair(std::string pair) {
    report_.ice_pair = std::move(pair);
    // "srflx 1.2.3.4:5 <-> relay 6.7.8.9:10": the first word of each side is its type.
    if (auto arrow = report_.ice_pair.find(" <-> "); arrow != std::string::npos) {
        report_.local_candidate = report_.ice_pair.substr(0, report_.ice_pair.find(' '));
        const auto remote = report_.ice_pair.substr(arrow + 5);
        report_.remote_candidate = remote.substr(0, remote.find(' '));
    }
}

// ---- ICE restart ------------------------------------------------------------------------

void Call::watch_media() {
    watchdog_.expires_after(std::chrono::milliseconds(500));
    watchdog_.async_wait([weak = weak()](const boost::system::error_code& ec) {
        auto self = weak.lock();
        if (ec || !self || self->ended_ || !(self->media_ || self->bridge_media_)) return;
        const auto rx = self->rx_datagrams_;
        const auto now = Clock::now();
        // While either side holds the call the peer may send nothing at all (a held phone
        // behind a bridge goes quiet too): libnice's consent checks (RFC 7675) still
        // notice a dead path.
        if (self->local_.direction != sip::sdp::Direction::sendrecv ||
            self->remote_.direction != sip::sdp::Direction::sendrecv)
            self->last_rx_change_ = now;
        if (rx != self->last_rx_packets_) {
            self->last_rx_packets_ = rx;
            self->last_rx_change_ = now;
        }
        // A peer sends a packet every 20 ms; 2 s of nothing means the path died (a NAT
        // lost or changed its mapping, an address changed). The caller restarts first;
        // the callee waits longer so that both rarely re-INVITE at once (491 glare).
        const auto quiet = now - self->last_rx_change_;
        const auto limit = std::chrono::seconds(self->incoming_ ? 8 : 2);
        if (quiet > limit && !self->pending_ice_)
            self->start_ice_restart(
                fmt::format("no media from the peer for {} ms",
                            std::chrono::duration_cast<std::chrono::milliseconds>(quiet).count()));
        self->watch_media();
    });
}

std::shared_ptr<nat::IceAgent> Call::begin_restart() {
    std::error_code ec;
    auto agent = new_ice_agent(!incoming_, ec);  // RFC 8445 §2.4: roles do not change
    if (!agent) {
        env_.log->warn("ICE restart: no agent: {}", ec.message());
        return nullptr;
    }
    if (pending_ice_) pending_ice_->close();
    pending_ice_ = agent;
    agent->on_state([weak = weak(), agent](nat::IceState s) {
        auto self = weak.lock();
        if (!self || self->pending_ice_ != agent) return;
        if (s == nat::IceState::connected)
            self->adopt_pending_ice();
        else if (s == nat::IceState::failed)
            self->abandon_restart("no candidate pair works");
    });
    return agent;
}

void Call::abandon_restart(const std::string& why) {
    if (!pending_ice_) return;
    env_.log->warn("ICE restart abandoned: {}", why);
    pending_ice_->close();
    pending_ice_.reset();  // the watchdog may try again
}

void Call::start_ice_restart(const std::string& why) {
    if (ended_ || pending_ice_ || udp_ || !session_ ||
        session_->state() != sip::Session::State::confirmed)
        return;
    if (report_.ice_restarts >= 5) {
        hangup("media path lost: " + why);
        return;
    }
    env_.log->info("ICE restart: {}", why);
    if (env_.signaling) env_.signaling->network_changed();
    auto agent = begin_restart();
    if (!agent) return;
    agent->gather([weak = weak(), agent](std::error_code gec) {
        auto self = weak.lock();
        if (!self || self->ended_ || self->pending_ice_ != agent) return;
        if (gec || !self->session_) return self->abandon_restart("gathering failed");
        LocalMedia fresh = self->local_;  // same codecs and SRTP key, new ICE
        fresh.ice = agent->local_credentials();
        fresh.candidates = agent->local_candidates();
        self->session_->reinvite(
            build_offer(fresh), [weak, agent, fresh](int status, std::string answer) {
                auto self = weak.lock();
                if (!self || self->ended_ || self->pending_ice_ != agent) return;
                std::string why;
                RemoteMedia remote;
                if (status != 200 || !read_answer(answer, fresh, remote, why) || !remote.use_ice ||
                    agent->set_remote(remote.ice, remote.candidates))
                    return self->abandon_restart(fmt::format("re-INVITE: {} {}", status, why));
                self->local_ = fresh;
                self->remote_.ice = remote.ice;
                self->remote_.candidates = remote.candidates;
            });
    });
}

void Call::on_reoffer(std::string_view offer_view, std::function<void(std::string)> respond) {
    const std::string offer(offer_view);
    LocalMedia trial = local_;
    // RFC 3264 §8.4: what we want stays what we last asked for (held or not).
    trial.direction = holding_ ? sip::sdp::Direction::sendonly : sip::sdp::Direction::sendrecv;
    RemoteMedia remote;
    std::string answer, why;
    int status = 488;
    // Same session, maybe another direction (hold / resume): answer and follow it.
    auto accept = [this, &trial, &remote, &answer, &respond] {
        const auto before = remote_.direction;
        local_.direction = trial.direction;
        remote_.direction = remote.direction;
        if (before != remote_.direction) {
            if (remote_.direction != sip::sdp::Direction::sendrecv) ++report_.holds;
            env_.log->info("{} (the peer sent a={})",
                           remote_.direction == sip::sdp::Direction::sendrecv
                               ? "the peer resumed the call"
                               : "the peer put the call on hold",
                           sip::sdp::to_string(remote_.direction));
            apply_direction();
            if (bridge_ && bridge_->on_direction) bridge_->on_direction(remote_.direction);
        }
        respond(answer);
    };
    if (udp_ || !sdp_uses_ice(offer) ||
        !build_answer(offer, trial, !env_.options.srtp, remote, answer, status, why)) {
        // A plain-path peer's session refresh or hold: answer with what we have.
        if (udp_ && build_answer(offer, trial, !env_.options.srtp, remote, answer, status, why))
            return accept();
        env_.log->info("re-INVITE refused: {}", why.empty() ? "no ICE" : why);
        return respond({});
    }
    if (remote.key && remote_.key && remote.key->key_salt != remote_.key->key_salt) {
        env_.log->info("re-INVITE refused: re-keying SRTP is not supported");
        return respond({});
    }
    if (remote.ice.ufrag == remote_.ice.ufrag && remote.ice.pwd == remote_.ice.pwd)
        return accept();  // same ICE session (RFC 8839 §4.4.1.1.2): nothing to redo
    env_.log->info("ICE restart requested by the peer");
    auto agent = begin_restart();
    if (!agent) return respond({});
    agent->gather([weak = weak(), agent, offer, respond = std::move(respond)](std::error_code gec) {
        auto self = weak.lock();
        if (!self || self->ended_ || self->pending_ice_ != agent || gec) return respond({});
        LocalMedia fresh = self->local_;
        fresh.ice = agent->local_credentials();
        fresh.candidates = agent->local_candidates();
        fresh.direction =
            self->holding_ ? sip::sdp::Direction::sendonly : sip::sdp::Direction::sendrecv;
        RemoteMedia remote;
        std::string answer, why;
        int status = 488;
        if (!build_answer(offer, fresh, !self->env_.options.srtp, remote, answer, status, why) ||
            agent->set_remote(remote.ice, remote.candidates)) {
            self->abandon_restart("cannot answer the peer's restart offer");
            return respond({});
        }
        self->local_ = fresh;
        self->remote_.ice = remote.ice;
        self->remote_.candidates = remote.candidates;
        self->remote_.direction = remote.direction;
        self->apply_direction();
        respond(answer);
    });
}

// ---- hold / resume ----------------------------------------------------------------------

std::string Call::hold() {
    if (ended_ || !session_ || session_->state() != sip::Session::State::confirmed)
        return "no established call to put on hold";
    if (holding_) return "the call is already on hold";
    change_direction(true);
    return {};
}

std::string Call::resume() {
    if (ended_ || !session_ || session_->state() != sip::Session::State::confirmed)
        return "no established call to resume";
    if (!holding_) return "the call is not on hold";
    change_direction(false);
    return {};
}

void Call::change_direction(bool hold) {
    // RFC 6337 §5.1: hold is a re-INVITE offering a=sendonly (the held side answers
    // recvonly); resume offers a=sendrecv again. Same ICE and keys: nothing else changes.
    LocalMedia fresh = local_;
    fresh.direction = hold ? sip::sdp::Direction::sendonly : sip::sdp::Direction::sendrecv;
    env_.log->info("{}: re-INVITE with a={}", hold ? "putting the call on hold" : "resuming",
                   sip::sdp::to_string(fresh.direction));
    session_->reinvite(build_offer(fresh), [weak = weak(), fresh, hold](int status,
                                                                        std::string answer) {
        auto self = weak.lock();
        if (!self || self->ended_) return;
        RemoteMedia remote;
        std::string why;
        if (status == 491 && self->direction_retries_ < 3) {
            // RFC 3261 §14.1 glare: try again after a random wait, 2.1-4 s for the
            // owner of the Call-ID (the caller), 0-2 s for the other side.
            ++self->direction_retries_;
            const bool owner = self->session_ && self->session_->role() == sip::Session::Role::uac;
            std::uniform_int_distribution<int> wait(owner ? 2100 : 0, owner ? 4000 : 2000);
            std::random_device rd;
            self->env_.log->info("{} crossed another re-INVITE (491): retrying",
                                 hold ? "hold" : "resume");
            self->retry_timer_.expires_after(std::chrono::milliseconds(wait(rd)));
            self->retry_timer_.async_wait(
                [weak = self->weak(), hold](const boost::system::error_code& ec) {
                    auto self = weak.lock();
                    if (ec || !self || self->ended_ || !self->session_ ||
                        self->session_->state() != sip::Session::State::confirmed)
                        return;
                    if (self->holding_ != hold) self->change_direction(hold);
                });
            return;
        }
        if (status != 200 || !read_answer(answer, fresh, remote, why)) {
            self->env_.log->warn("{} refused: {} {}", hold ? "hold" : "resume", status, why);
            return;
        }
        self->direction_retries_ = 0;
        self->holding_ = hold;
        if (hold) ++self->report_.holds;
        self->local_.direction = fresh.direction;
        self->remote_.direction = remote.direction;
        self->apply_direction();
        self->env_.log->info("call {} (the peer answered a={})", hold ? "on hold" : "resumed",
                             sip::sdp::to_string(remote.direction));
    });
}

void Call::apply_direction() {
    const bool send = sends(local_.direction, remote_.direction);
    const bool recv = receives(local_.direction, remote_.direction);
    if (media_) media_->set_direction(send, recv);
    last_rx_change_ = Clock::now();
    env_.log->info("media: {}", send && recv ? "both ways"
                                : send       ? "we send only"
                                : recv       ? "we receive only"
                                             : "inactive");
}

void Call::adopt_pending_ice() {
    auto old = std::move(ice_);
    ice_ = std::move(pending_ice_);
    ++report_.ice_restarts;
    ice_->on_state([weak = weak()](nat::IceState s) {
        if (auto self = weak.lock()) self->on_ice_state(s);
    });
    ice_->on_receive([weak = weak()](std::span<const uint8_t> packet) {
        if (auto self = weak.lock()) self->on_datagram(packet);
    });
    if (old) old->close();
    note_pair(ice_->selected_pair());
    last_rx_change_ = Clock::now();
    env_.log->info("ICE restarted: media now on {}", report_.ice_pair);
}

std::string Call::send_dtmf(const std::string& digits) {
    if (!media_) return "no call with media to send DTMF on";
    if (remote_.dtmf_pt < 0) return "the peer did not accept telephone-events (RFC 4733)";
    for (char d : digits) {
        const char digit = static_cast<char>(std::toupper(static_cast<unsigned char>(d)));
        if (auto ec = media_->send_dtmf(digit))
            return fmt::format("DTMF '{}' not sent: {}", digit, ec.message());
        report_.dtmf_sent.push_back(digit);
    }
    env_.log->info("DTMF queued: {}", digits);
    return {};
}

// ---- the end ----------------------------------------------------------------------------

void Call::hangup(const std::string& why) {
    if (ended_) return;
    env_.log->info("hanging up: {}", why);
    if (session_) {
        if (incoming_ && !answered_)
            session_->reject(603, "Decline");  // RFC 3261 §21.6.2: the user said no
        else
            session_->hangup();
    }
    end(report_.status ? report_.status : 487, why);
}

void Call::reject(int status, const std::string& reason) {
    if (ended_) return;
    if (!incoming_ || answered_) return hangup(reason);
    if (session_) session_->reject(status, reason);
    end(status, fmt::format("{} {}", status, reason));
}

void Call::end(int status, const std::string& reason) {
    if (ended_) return;
    ended_ = true;
    if (!report_.status || !report_.answered) report_.status = status;
    report_.end_reason = reason;
    ice_timer_.cancel();
    duration_timer_.cancel();
    watchdog_.cancel();
    retry_timer_.cancel();
    if (media_) {
        media_->stop();
        const auto s = media_->stats();
        report_.packets_sent = s.packets_sent;
        report_.packets_received = s.packets_received;
        report_.packets_lost = s.packets_lost;
        report_.srtp_auth_failures = s.srtp_auth_failures;
        report_.jitter_ms = s.jitter_ms;
        const auto q = media_->quality_report();
        report_.rtt_ms = q.rtt_ms;
        report_.playout_delay_ms = q.playout_delay_ms;
        report_.mos = q.mos;
        report_.media_seconds = std::chrono::duration<double>(Clock::now() - *media_at_).count();
        media_.reset();  // closes the recording now, not when the call object goes
    }
    if (dtls_) {
        dtls_->close();
        dtls_.reset();
    }
    if (ice_) ice_->close();
    if (pending_ice_) pending_ice_->close();
    if (udp_) udp_->close();
    if (tls_ep_ && owner_) env_.tls_check->forget(*tls_ep_, *owner_);
    if (env_.signaling && !report_.call_id.empty()) {
        report_.sip_via_dht = env_.signaling->via_dht(report_.call_id);
        if (peer_ep_) report_.signaling = env_.signaling->path_to(*peer_ep_);
    }
    if (session_) session_->set_handlers({});
    env_.log->info("call ended: {}", reason);
    auto fn = std::move(ended_fn_);
    if (fn) fn(report_);
}

}  // namespace p2psip::node
