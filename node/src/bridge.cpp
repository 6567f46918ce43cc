#include "bridge.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "p2psip/sip/uri.hpp"

namespace p2psip::node {

namespace sdp = sip::sdp;

namespace {

// Every codec the node can relay or transcode, with our payload type numbers.
std::vector<sdp::Codec> all_codecs() {
    return codec_table({"opus", "pcmu", "pcma"});
}

// Our table's entries reordered: those in `first` (in its order) lead, the rest follow;
// telephone-events only at the clocks of the audio codecs kept.
std::vector<sdp::Codec> preferring(const std::vector<sdp::Codec>& first, bool only_first) {
    const auto ours = all_codecs();
    std::vector<sdp::Codec> out;
    auto add = [&](const sdp::Codec& c) {
        for (const auto& o : out)
            if (same_codec(o, c)) return;
        out.push_back(c);
    };
    for (const auto& f : first)
        for (const auto& o : ours)
            if (!is_dtmf(o) && same_codec(o, f)) add(o);
    if (!only_first)
        for (const auto& o : ours)
            if (!is_dtmf(o)) add(o);
    std::vector<sdp::Codec> events;
    for (const auto& o : ours)
        if (is_dtmf(o))
            for (const auto& c : out)
                if (c.clock == o.clock) {
                    events.push_back(o);
                    break;
                }
    out.insert(out.end(), events.begin(), events.end());
    return out;
}

const sdp::Codec* first_audio(const std::vector<sdp::Codec>& list) {
    for (const auto& c : list)
        if (!is_dtmf(c)) return &c;
    return nullptr;
}

std::string codec_text(const sdp::Codec& c) {
    return fmt::format("{}/{} (pt {})", c.name, c.clock, c.pt);
}

bool offers_rtcp_mux(const std::string& sdp_text) {
    sdp::SessionDescription sd;
    sdp::RemoteAudio audio;
    return !sdp::parse(sdp_text, sd) && !sdp::audio_stream(sd, audio) && audio.media &&
           audio.media->has_attribute("rtcp-mux");
}

}  // namespace

Bridge::Bridge(BridgeEnv& env, EndedFn ended) : env_(env), ended_fn_(std::move(ended)) {}

Bridge::~Bridge() {
    if (udp_) udp_->close();
}

std::shared_ptr<Bridge> Bridge::outgoing(BridgeEnv& env, std::shared_ptr<sip::Session> phone,
                                         const std::string& account_aor, const std::string& target,
                                         EndedFn ended) {
    auto b = std::shared_ptr<Bridge>(new Bridge(env, std::move(ended)));
    b->start_outgoing(std::move(phone), account_aor, target);
    return b;
}

std::shared_ptr<Bridge> Bridge::incoming(BridgeEnv& env, std::shared_ptr<sip::Session> overlay,
                                         const std::vector<sip::Registration>& contacts,
                                         EndedFn ended) {
    auto b = std::shared_ptr<Bridge>(new Bridge(env, std::move(ended)));
    b->start_incoming(std::move(overlay), contacts);
    return b;
}

bool Bridge::open_phone_socket() {
    std::error_code ec;
    udp_ = nat::UdpPath::open(env_.overlay.io, env_.lan_address, ec);
    if (!udp_) {
        env_.log->warn("phone media socket on {}: {}", env_.lan_address, ec.message());
        return false;
    }
    phone_local_.use_ice = false;
    phone_local_.address = udp_->local_address();
    phone_local_.port = udp_->local_port();
    return true;
}

std::shared_ptr<BridgeHooks> Bridge::make_hooks() {
    auto h = std::make_shared<BridgeHooks>();
    std::weak_ptr<Bridge> weak = weak_from_this();
    h->on_media = [weak](const RemoteMedia& overlay, std::optional<media::SrtpKeyMaterial> tx,
                         std::optional<media::SrtpKeyMaterial> rx) {
        if (auto self = weak.lock()) self->on_overlay_media(overlay, tx, rx);
    };
    h->on_packet = [weak](std::span<const uint8_t> packet) {
        auto self = weak.lock();
        if (self && self->relay_) self->relay_->on_packet(media::RtpRelay::Side::b, packet);
    };
    h->on_direction = [weak](sdp::Direction remote) {
        auto self = weak.lock();
        if (!self || self->ended_ || !self->phone_ || !self->phone_answered_) return;
        // The far end held (a=sendonly / inactive) or resumed (sendrecv) the call: ask the
        // same of the phone (RFC 6337 §5.1). Other changes are not a hold.
        sdp::Direction want;
        if (remote == sdp::Direction::sendonly || remote == sdp::Direction::inactive)
            want = sdp::Direction::sendonly;
        else if (remote == sdp::Direction::sendrecv)
            want = sdp::Direction::sendrecv;
        else
            return;
        if (want == self->phone_want_) return;
        self->phone_want_ = want;
        LocalMedia fresh = self->phone_local_;
        fresh.direction = want;
        self->phone_->reinvite(build_offer(fresh), [weak, fresh](int status, std::string) {
            auto self = weak.lock();
            if (!self) return;
            if (status == 200)
                self->phone_local_.direction = fresh.direction;
            else
                self->env_.log->warn(
                    "the phone refused the {} ({})",
                    fresh.direction == sdp::Direction::sendrecv ? "resume" : "hold", status);
        });
    };
    return h;
}

// ---- phone -> overlay -------------------------------------------------------------------

void Bridge::start_outgoing(std::shared_ptr<sip::Session> phone, const std::string& account_aor,
                            const std::string& target) {
    outgoing_ = true;
    phone_ = std::move(phone);
    phone_offer_ = phone_->remote_sdp();
    const auto& ep = phone_->remote_endpoint();
    phone_desc_ = fmt::format("{} at {}:{}", account_aor, ep.address().to_string(), ep.port());
    watch_phone(phone_);
    auto fail = [this](int status, const std::string& why) {
        env_.log->warn("call from {} refused: {} {}", phone_desc_, status, why);
        phone_->reject(status, why);
        CallReport r;
        r.direction = "outgoing";
        r.status = status;
        r.end_reason = fmt::format("{} {}", status, why);
        finish(std::move(r));
    };
    if (phone_offer_.empty()) return fail(488, "An INVITE without SDP is not supported");
    if (!open_phone_socket()) return fail(500, "No media socket");
    // What the phone can take, from our codecs; also checks its SRTP offer is usable.
    LocalMedia probe = phone_local_;
    probe.codecs = all_codecs();
    RemoteMedia offered;
    std::string answer, why;
    int status = 488;
    if (!build_answer(phone_offer_, probe, true, offered, answer, status, why))
        return fail(status, why);
    phone_remote_.offered = offered.offered;
    phone_rtcp_mux_ = offers_rtcp_mux(phone_offer_);

    hooks_ = make_hooks();
    // Toward the overlay: the phone's codecs first (no transcoding when the callee has
    // one of them), then the rest of ours (transcoding rather than no call).
    hooks_->codecs = preferring(offered.offered, false);
    hooks_->from_aor = account_aor;
    hooks_->from_display = phone_->from_display();
    std::weak_ptr<Bridge> weak = weak_from_this();
    hooks_->on_progress = [weak](int status, std::string_view) {
        auto self = weak.lock();
        if (self && !self->ended_ && (status == 180 || status == 183)) self->phone_->ringing();
    };
    hooks_->on_answered = [weak](const RemoteMedia& overlay) {
        if (auto self = weak.lock()) self->on_overlay_answered(overlay);
    };
    env_.log->info("{} calls {}: bridging to the overlay", phone_desc_, target);
    call_ = Call::dial(
        env_.overlay, target,
        [weak](const CallReport& r) {
            if (auto self = weak.lock()) self->on_call_ended(r);
        },
        hooks_);
}

void Bridge::on_overlay_answered(const RemoteMedia& overlay) {
    if (ended_) return;
    // The codec toward the phone: the callee's when the phone offered it, else the
    // phone's first (and the relay transcodes).
    const sdp::Codec* pick = nullptr;
    for (const auto& c : phone_remote_.offered)
        if (!is_dtmf(c) && same_codec(c, overlay.codec)) pick = &c;
    transcoding_ = !pick;
    if (!pick) pick = first_audio(phone_remote_.offered);
    if (!pick) return call_->hangup("the phone offered no codec we know");
    phone_local_.codecs = preferring({*pick}, true);
    std::string answer, why;
    int status = 488;
    const auto offered = phone_remote_.offered;
    if (!build_answer(phone_offer_, phone_local_, true, phone_remote_, answer, status, why)) {
        call_->hangup("cannot answer the phone: " + why);
        return;
    }
    phone_remote_.offered = offered;
    if (auto ec = udp_->set_remote(phone_remote_.address, phone_remote_.port)) {
        call_->hangup(fmt::format("the phone's media address {}:{} is unusable",
                                  phone_remote_.address, phone_remote_.port));
        return;
    }
    phone_->accept(answer);
    phone_answered_ = true;
    env_.log->info(
        "callee answered: phone leg {}{}", codec_text(phone_remote_.codec),
        transcoding_ ? fmt::format(", transcoded to {}", codec_text(overlay.codec)) : "");
}

// ---- overlay -> phone(s) ----------------------------------------------------------------

void Bridge::start_incoming(std::shared_ptr<sip::Session> overlay,
                            const std::vector<sip::Registration>& contacts) {
    phone_desc_ = overlay->to_aor();
    auto fail = [this, &overlay](int status, const std::string& why) {
        env_.log->warn("call for {} refused: {} {}", phone_desc_, status, why);
        overlay->reject(status, why);
        CallReport r;
        r.direction = "incoming";
        r.peer_aor = overlay->from_aor();
        r.status = status;
        r.end_reason = fmt::format("{} {}", status, why);
        finish(std::move(r));
    };
    sdp::SessionDescription sd;
    sdp::RemoteAudio audio;
    if (sdp::parse(overlay->remote_sdp(), sd) || sdp::audio_stream(sd, audio))
        return fail(488, "No audio stream offered");
    overlay_offered_ = sdp::negotiate(audio.codecs, all_codecs());
    if (!first_audio(overlay_offered_)) return fail(488, "No common codec");
    if (!open_phone_socket()) return fail(500, "No media socket");

    hooks_ = make_hooks();
    hooks_->codecs = preferring(overlay_offered_, false);
    std::weak_ptr<Bridge> weak = weak_from_this();
    hooks_->on_ready = [weak] {
        auto self = weak.lock();
        if (!self || self->ended_) return;
        self->overlay_ready_ = true;
        self->answer_overlay_if_ready();
    };
    const std::string caller = overlay->from_aor(), caller_name = overlay->from_display();
    const std::string callee = overlay->to_aor();
    call_ = Call::incoming(
        env_.overlay, std::move(overlay),
        [weak](const CallReport& r) {
            if (auto self = weak.lock()) self->on_call_ended(r);
        },
        hooks_);
    if (ended_) return;

    // The phone side: the caller's codecs first, SDES-SRTP unless turned off.
    phone_local_.codecs = preferring(overlay_offered_, false);
    if (env_.phone_srtp) phone_local_.key = media::generate_key();
    const auto offer = build_offer(phone_local_);
    for (const auto& reg : contacts) {
        sip::Uri target = reg.contact_uri;
        // A Contact we cannot reach as written (a host name, or a private address behind a
        // NAT that rewrote the REGISTER's source): where the REGISTER came from over UDP.
        const auto& src = reg.source.endpoint;
        if (!is_ip_literal(target.host) || (reg.source.transport == sip::TransportKind::udp &&
                                            target.host != src.address().to_string())) {
            target.host = src.address().to_string();
            target.port = src.port();
        }
        auto slot = std::make_shared<std::weak_ptr<sip::Session>>();
        sip::SessionHandlers h;
        h.on_progress = [weak](int status, std::string_view) {
            auto self = weak.lock();
            if (self && !self->ended_ && self->call_ && status == 180) self->call_->ringing();
        };
        h.on_established = [weak, slot](std::string_view answer) {
            auto self = weak.lock();
            auto fork = slot->lock();
            if (self && fork) self->on_fork_answered(fork, answer);
        };
        h.on_closed = [weak, slot](int status, std::string reason) {
            auto self = weak.lock();
            auto fork = slot->lock();
            if (self && fork) self->on_fork_closed(fork, status, reason);
        };
        h.on_reoffer = [weak, slot](std::string_view offer,
                                    std::function<void(std::string)> respond) {
            auto self = weak.lock();
            if (!self || slot->lock() != self->phone_) return respond({});
            self->on_phone_reoffer(offer, std::move(respond));
        };
        sip::InviteOptions opts;
        opts.from_aor = caller;
        opts.from_display = caller_name;
        auto fork = env_.lan.invite(target, callee, offer, std::move(h), std::move(opts));
        if (!fork) continue;
        *slot = fork;
        forks_.push_back(fork);
        env_.log->info("call for {}: ringing the phone at {}", callee, target.to_string());
    }
    if (forks_.empty()) call_->reject(480, "Temporarily Unavailable");
}

void Bridge::on_fork_answered(const std::shared_ptr<sip::Session>& fork, std::string_view answer) {
    if (ended_ || phone_) {
        // Another phone of the AOR answered too: RFC 3261 §13.2.2.4, ACKed, then BYE.
        if (fork != phone_) fork->hangup();
        return;
    }
    phone_ = fork;
    const auto& ep = fork->remote_endpoint();
    phone_desc_ = fmt::format("{} at {}:{}", fork->to_aor(), ep.address().to_string(), ep.port());
    for (const auto& other : forks_)
        if (other != fork) other->hangup();  // CANCEL the others (first answer wins)
    std::string why;
    if (!read_answer(std::string(answer), phone_local_, phone_remote_, why)) {
        phone_->hangup();
        if (call_) call_->reject(488, "The phone's answer is unusable: " + why);
        return;
    }
    phone_rtcp_mux_ = offers_rtcp_mux(std::string(answer));
    // Toward the caller: the phone's codec when the caller offered it, else the caller's
    // first (transcoded).
    const sdp::Codec* pick = nullptr;
    for (const auto& c : overlay_offered_)
        if (!is_dtmf(c) && same_codec(c, phone_remote_.codec)) pick = &c;
    transcoding_ = !pick;
    if (!pick) pick = first_audio(overlay_offered_);
    hooks_->codecs = preferring({*pick}, true);
    if (auto ec = udp_->set_remote(phone_remote_.address, phone_remote_.port)) {
        phone_->hangup();
        if (call_) call_->reject(488, "The phone's media address is unusable");
        return;
    }
    phone_answered_ = true;
    env_.log->info("the phone at {} answered: {}", phone_desc_, codec_text(phone_remote_.codec));
    answer_overlay_if_ready();
}

void Bridge::answer_overlay_if_ready() {
    if (phone_answered_ && overlay_ready_ && call_ && !ended_) call_->answer();
}

void Bridge::on_fork_closed(const std::shared_ptr<sip::Session>& fork, int status,
                            const std::string& reason) {
    if (ended_) return;
    if (fork == phone_) {
        if (call_) call_->hangup("the phone hung up");
        return;
    }
    ++forks_closed_;
    // RFC 3261 §16.7: the best final response; a busy or declining phone says more than
    // one that did not answer.
    auto rank = [](int s) { return s >= 600 ? 3 : s == 486 ? 2 : s == 487 ? 0 : 1; };
    if (!best_fork_status_ || rank(status) > rank(best_fork_status_)) {
        best_fork_status_ = status;
        best_fork_reason_ = reason;
    }
    // RFC 3261 §16.7 step 5: a 6xx ends the search at once; CANCEL the other phones.
    if (!phone_ && status >= 600 && call_) {
        for (const auto& f : forks_)
            if (f != fork) f->hangup();
        call_->reject(status, reason);
        return;
    }
    if (!phone_ && forks_closed_ == forks_.size() && call_)
        call_->reject(best_fork_status_ == 487 ? 480 : best_fork_status_,
                      best_fork_status_ == 487 ? "Temporarily Unavailable" : best_fork_reason_);
}

// ---- both directions ---------------------------------------------------------------------

void Bridge::watch_phone(const std::shared_ptr<sip::Session>& phone) {
    std::weak_ptr<Bridge> weak = weak_from_this();
    sip::SessionHandlers h;
    h.on_closed = [weak](int status, std::string reason) {
        auto self = weak.lock();
        if (!self || self->ended_) return;
        if (self->call_)
            self->call_->hangup(fmt::format("the phone ended the call ({} {})", status, reason));
    };
    h.on_reoffer = [weak](std::string_view offer, std::function<void(std::string)> respond) {
        auto self = weak.lock();
        if (!self || self->ended_) return respond({});
        self->on_phone_reoffer(offer, std::move(respond));
    };
    phone->set_handlers(std::move(h));
}

void Bridge::on_phone_reoffer(std::string_view offer_view,
                              std::function<void(std::string)> respond) {
    LocalMedia trial = phone_local_;
    // RFC 3264 §8.4: what we want stays what we last asked (sendonly while the far end
    // holds the call).
    trial.direction = phone_want_;
    if (offer_view.empty()) {  // an offerless re-INVITE: our offer goes in the 200
        respond(build_offer(trial));
        return;
    }
    trial.codecs = preferring({phone_remote_.codec}, true);
    RemoteMedia remote;
    std::string answer, why;
    int status = 488;
    if (!build_answer(std::string(offer_view), trial, true, remote, answer, status, why) ||
        !same_codec(remote.codec, phone_remote_.codec) || remote.key != phone_remote_.key) {
        env_.log->info("re-INVITE from the phone refused: {}",
                       why.empty() ? "codec or key change" : why);
        return respond({});
    }
    if (remote.address != phone_remote_.address || remote.port != phone_remote_.port)
        (void)udp_->set_remote(remote.address, remote.port);
    // Only sendonly / inactive from the phone is its hold key (RFC 6337 §5.1); recvonly is
    // its answer to a hold passed on from the far end.
    auto holding = [](sdp::Direction d) {
        return d == sdp::Direction::sendonly || d == sdp::Direction::inactive;
    };
    const bool was_held = holding(phone_remote_.direction);
    const bool held = holding(remote.direction);
    remote.offered = phone_remote_.offered;
    phone_local_ = trial;
    phone_remote_ = remote;
    respond(answer);
    // The phone's hold key: hold (or resume) the overlay leg the same way.
    if (call_ && held != was_held) {
        auto problem = held ? call_->hold() : call_->resume();
        if (!problem.empty()) env_.log->info("passing the phone's hold on: {}", problem);
    }
}

void Bridge::on_overlay_media(const RemoteMedia& overlay, std::optional<media::SrtpKeyMaterial> tx,
                              std::optional<media::SrtpKeyMaterial> rx) {
    if (ended_ || relay_) return;
    if (!phone_answered_) return;  // cannot happen: the overlay is answered after the phone
    std::weak_ptr<Bridge> weak = weak_from_this();
    const bool sdes = phone_remote_.keying == Keying::sdes;
    media::RelayLegConfig a;
    a.rx_key = sdes ? phone_remote_.key : std::nullopt;
    a.tx_key = sdes ? phone_local_.key : std::nullopt;
    a.send_rtp = [weak](std::span<const uint8_t> packet) {
        auto self = weak.lock();
        if (self && self->udp_) (void)self->udp_->send(packet);
    };
    if (!phone_rtcp_mux_) a.send_rtcp = [](std::span<const uint8_t>) {};  // no RTCP port of ours
    media::RelayLegConfig b;
    b.rx_key = rx;
    b.tx_key = tx;
    b.send_rtp = [weak](std::span<const uint8_t> packet) {
        auto self = weak.lock();
        if (self && self->call_) self->call_->send_media(packet);
    };
    media::RelayCodecMap map;
    map.entries.push_back(
        {phone_remote_.codec.pt, overlay.codec.pt, phone_remote_.codec.name, overlay.codec.name});
    if (phone_remote_.dtmf_pt >= 0 && overlay.dtmf_pt >= 0)
        map.entries.push_back({phone_remote_.dtmf_pt, overlay.dtmf_pt,
                               fmt::format("telephone-event/{}", phone_remote_.codec.clock),
                               fmt::format("telephone-event/{}", overlay.codec.clock)});
    relay_ = std::make_unique<media::RtpRelay>(std::move(a), std::move(b), std::move(map));
    if (auto ec = relay_->start()) {
        relay_.reset();
        call_->hangup("media relay could not start: " + ec.message());
        return;
    }
    udp_->on_receive([weak](std::span<const uint8_t> packet) {
        auto self = weak.lock();
        if (self && self->relay_) self->relay_->on_packet(media::RtpRelay::Side::a, packet);
    });
    env_.log->info("relaying media: phone {} <-> overlay {}{}", codec_text(phone_remote_.codec),
                   codec_text(overlay.codec), transcoding_ ? " (transcoding)" : "");
}

void Bridge::hangup(const std::string& why) {
    if (ended_) return;
    if (call_) return call_->hangup(why);  // ends the phone leg through on_call_ended
    CallReport r;
    r.end_reason = why;
    finish(std::move(r));
}

void Bridge::on_call_ended(const CallReport& report) {
    if (ended_) return;
    if (outgoing_) {
        if (phone_answered_)
            phone_->hangup();  // BYE
        else {
            // The reason phrase without the status the end reason starts with.
            int status = report.status >= 300 ? report.status : 500;
            std::string reason = report.end_reason;
            if (const auto code = std::to_string(status) + " "; reason.rfind(code, 0) == 0)
                reason.erase(0, code.size());
            // Responses that only make sense with their headers (a redirect's Contact, a
            // far server's challenge) must not reach the phone bare: it would retry with
            // its own credentials and count as failed logins here.
            if (status < 400 || status == 401 || status == 407) {
                reason = "Temporarily Unavailable (" + reason + ")";
                status = 480;
            }
            phone_->reject(status, reason);
        }
    } else {
        for (const auto& f : forks_) f->hangup();  // BYE to the one that answered, CANCEL others
    }
    finish(report);
}

void Bridge::finish(CallReport report) {
    if (ended_) return;
    ended_ = true;
    report.phone = phone_desc_;
    if (phone_answered_) {
        report.phone_codec = codec_text(phone_remote_.codec);
        report.phone_srtp = phone_remote_.keying == Keying::sdes && phone_remote_.key
                                ? fmt::format("sdes-srtp ({})", phone_remote_.key->suite)
                                : "none";
    }
    report.transcoding = transcoding_;
    if (relay_) {
        const auto& s = relay_->stats();
        report.relayed_from_phone = s.forwarded_a_to_b;
        report.relayed_to_phone = s.forwarded_b_to_a;
    }
    if (udp_) udp_->close();
    // The overlay Call is still on the stack of its own callback: released later.
    asio::post(env_.overlay.io, [self = shared_from_this()] {
        self->relay_.reset();
        self->call_.reset();
        self->hooks_.reset();
    });
    auto fn = std::move(ended_fn_);
    if (fn) fn(report);
}

}  // namespace p2psip::node
