#include "p2psip/media/rtp_relay.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <string_view>

#include "p2psip/media/dtmf.hpp"
#include "p2psip/media/error.hpp"

namespace p2psip::media {
namespace {

bool iequals_prefix(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    for (size_t i = 0; i < prefix.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(s[i])) !=
            std::tolower(static_cast<unsigned char>(prefix[i])))
            return false;
    }
    return true;
}

// "telephone-event" or "telephone-event/<clock>": true, with clock 0 if absent.
bool parse_telephone_event_name(std::string_view name, uint32_t& clock, bool& ok) {
    ok = true;
    clock = 0;
    if (!iequals_prefix(name, kTelephoneEventName)) return false;
    std::string_view rest = name.substr(kTelephoneEventName.size());
    if (rest.empty()) return true;
    if (rest.front() != '/') return false;  // some other name starting the same way
    rest.remove_prefix(1);
    const auto [p, e] = std::from_chars(rest.data(), rest.data() + rest.size(), clock);
    ok = e == std::errc{} && p == rest.data() + rest.size() && clock > 0;
    return true;
}

// RFC 5761 §4: RTP payload types 64..95 collide with RTCP packet types 192..223 once the
// marker bit is set, so they cannot be demultiplexed on a muxed flow.
bool valid_pt(int pt) {
    return pt >= 0 && pt <= 127 && (pt < 64 || pt > 95);
}

}  // namespace

struct RtpRelay::Leg {
    RelayLegConfig cfg;
    SrtpContext rx;
    SrtpContext tx;
};

struct RtpRelay::Route {
    enum class Kind { copy, transcode, drop };
    Kind kind = Kind::copy;
    uint8_t out_pt = 0;
    uint32_t in_clock = 0;
    uint32_t out_clock = 0;
    std::unique_ptr<AudioDecoder> decoder;
    std::unique_ptr<AudioEncoder> encoder;
    // Per-direction timestamp mapping of the current source (reset when its SSRC changes).
    bool have_map = false;
    uint32_t ssrc = 0;
    uint32_t last_in_ts = 0;
    int64_t ext_in = 0;  // input timestamp relative to the first packet, extended past wraps
    uint32_t out_base = 0;
    int64_t seq_delta = 0;  // output sequence = input sequence + seq_delta (+ k for extra frames)
    // Decoded 48 kHz samples not yet encoded (only when the sender does not packetise 20 ms).
    std::array<int16_t, kMaxDecodedSamples + kFrameSamples> pcm{};
    size_t pending = 0;
};

RtpRelay::RtpRelay(RelayLegConfig a, RelayLegConfig b, RelayCodecMap map)
    : a_(std::make_unique<Leg>()), b_(std::make_unique<Leg>()), map_(std::move(map)) {
    a_->cfg = std::move(a);
    b_->cfg = std::move(b);
}

RtpRelay::~RtpRelay() = default;

std::error_code RtpRelay::start() {
    if (started_) return errc::already_started;

    // Each leg's audio clock, the default clock of a bare "telephone-event".
    uint32_t audio_clock[2] = {0, 0};
    for (const auto& e : map_.entries) {
        const std::string* names[2] = {&e.codec_a, &e.codec_b};
        for (int s = 0; s < 2; ++s) {
            if (audio_clock[s] != 0) continue;
            if (const auto info = find_codec(*names[s])) audio_clock[s] = info->clock_rate;
        }
    }
    for (auto& c : audio_clock) {
        if (c == 0) c = 8000;
    }

    std::vector<Route> routes;
    routes.reserve(map_.entries.size() * 2);
    std::array<std::array<uint16_t, 128>, 2> index{};
    for (const auto& e : map_.entries) {
        if (!valid_pt(e.pt_a) || !valid_pt(e.pt_b)) return errc::invalid_argument;
        if (index[0][e.pt_a] != 0 || index[1][e.pt_b] != 0) return errc::invalid_argument;

        uint32_t te_clock_a = 0, te_clock_b = 0;
        bool ok_a = true, ok_b = true;
        const bool te_a = parse_telephone_event_name(e.codec_a, te_clock_a, ok_a);
        const bool te_b = parse_telephone_event_name(e.codec_b, te_clock_b, ok_b);
        if (!ok_a || !ok_b) return errc::unsupported_codec;
        if (te_a != te_b) return errc::invalid_argument;  // audio <-> DTMF cannot be mapped

        Route ab, ba;
        ab.out_pt = static_cast<uint8_t>(e.pt_b);
        ba.out_pt = static_cast<uint8_t>(e.pt_a);
        if (te_a) {
            // RFC 4733 §2.1: the event's timestamps and durations run on its clock; rescaling
            // them is not done here, so different clocks cannot be relayed.
            if (te_clock_a == 0) te_clock_a = audio_clock[0];
            if (te_clock_b == 0) te_clock_b = audio_clock[1];
            ab.kind = ba.kind = te_clock_a == te_clock_b ? Route::Kind::copy : Route::Kind::drop;
        } else {
            const auto ia = find_codec(e.codec_a);
            const auto ib = find_codec(e.codec_b);
            if (!ia || !ib) return errc::unsupported_codec;
            if (ia->name == ib->name) {
                ab.kind = ba.kind = Route::Kind::copy;
            } else {
                std::error_code ec;
                ab.kind = ba.kind = Route::Kind::transcode;
                ab.decoder = make_decoder(ia->name, ec);
                if (ec) return ec;
                ab.encoder = make_encoder(ib->name, ec);
                if (ec) return ec;
                ba.decoder = make_decoder(ib->name, ec);
                if (ec) return ec;
                ba.encoder = make_encoder(ia->name, ec);
                if (ec) return ec;
                ab.in_clock = ba.out_clock = ia->clock_rate;
                ab.out_clock = ba.in_clock = ib->clock_rate;
            }
        }
        routes.push_back(std::move(ab));
        index[0][e.pt_a] = static_cast<uint16_t>(routes.size());
        routes.push_back(std::move(ba));
        index[1][e.pt_b] = static_cast<uint16_t>(routes.size());
    }

    Leg* legs[2] = {a_.get(), b_.get()};
    SrtpContext ctx[2][2];
    for (int s = 0; s < 2; ++s) {
        if (legs[s]->cfg.rx_key) {
            if (auto ec =
                    SrtpContext::create(*legs[s]->cfg.rx_key, SrtpDirection::inbound, ctx[s][0]))
                return ec;
        }
        if (legs[s]->cfg.tx_key) {
            if (auto ec =
                    SrtpContext::create(*legs[s]->cfg.tx_key, SrtpDirection::outbound, ctx[s][1]))
                return ec;
        }
    }
    for (int s = 0; s < 2; ++s) {
        legs[s]->rx = std::move(ctx[s][0]);
        legs[s]->tx = std::move(ctx[s][1]);
    }
    routes_ = std::move(routes);
    route_index_ = index;
    stats_ = Stats{};
    started_ = true;
    return {};
}

bool RtpRelay::send_on(Leg& out, uint8_t* buf, size_t len, size_t capacity, bool rtcp) {
    if (out.tx.valid()) {
        const auto ec =
            rtcp ? out.tx.protect_rtcp(buf, len, capacity) : out.tx.protect(buf, len, capacity);
        if (ec) {
            // libsrtp2 refuses to protect the same RTP index twice (a duplicate from the
            // network on a plain leg).
            if (ec == errc::srtp_replay) {
                ++stats_.dropped_replay;
            } else {
                ++stats_.dropped_malformed;
            }
            return false;
        }
    }
    const auto& fn = rtcp && out.cfg.send_rtcp ? out.cfg.send_rtcp : out.cfg.send_rtp;
    if (fn) fn(std::span<const uint8_t>(buf, len));
    return true;
}

void RtpRelay::on_packet(Side from, std::span<const uint8_t> datagram) {
    if (!started_) return;
    if (datagram.empty() || datagram.size() > kMaxDatagram) {
        ++stats_.dropped_malformed;
        return;
    }
    const bool a_to_b = from == Side::a;
    Leg& in = a_to_b ? *a_ : *b_;
    Leg& out = a_to_b ? *b_ : *a_;
    std::memcpy(buf_.data(), datagram.data(), datagram.size());
    size_t len = datagram.size();

    // RFC 5761 §4: the second octet tells RTCP (192..223) from RTP.
    if (looks_like_rtcp(datagram)) {
        forward_rtcp(in, out, len);
        return;
    }
    if (!looks_like_rtp(datagram)) {
        ++stats_.dropped_malformed;
        return;
    }
    if (in.rx.valid()) {
        if (const auto ec = in.rx.unprotect(buf_.data(), len)) return count_refused(ec);
    }
    RtpHeader h;
    if (parse_rtp(std::span<const uint8_t>(buf_.data(), len), h)) {
        ++stats_.dropped_malformed;
        return;
    }
    const uint16_t idx = route_index_[a_to_b ? 0 : 1][h.payload_type & 0x7f];
    if (idx == 0) {
        ++stats_.dropped_unmapped;
        return;
    }
    Route& r = routes_[idx - 1];
    switch (r.kind) {
        case Route::Kind::drop:
            ++stats_.dropped_unmapped;
            return;
        case Route::Kind::transcode:
            transcode(r, out, h, a_to_b);
            return;
        case Route::Kind::copy:
            break;
    }
    // Same codec: only the PT bits change (RFC 3550 §5.1: M is the top bit of octet 1).
    buf_[1] = static_cast<uint8_t>((buf_[1] & 0x80) | r.out_pt);
    if (send_on(out, buf_.data(), len, buf_.size(), false)) {
        ++(a_to_b ? stats_.forwarded_a_to_b : stats_.forwarded_b_to_a);
    }
}

void RtpRelay::count_refused(std::error_code ec) {
    if (ec == errc::srtp_auth_failed)
        ++stats_.dropped_auth;
    else if (ec == errc::srtp_replay)
        ++stats_.dropped_replay;
    else
        ++stats_.dropped_malformed;
}

void RtpRelay::forward_rtcp(Leg& in, Leg& out, size_t len) {
    if (len < 8) {  // RFC 3550 §6.4: at least a header and the sender SSRC
        ++stats_.dropped_malformed;
        return;
    }
    // RFC 3711 §3.4: SRTCP is keyed by the same master key as SRTP on that leg.
    if (in.rx.valid()) {
        if (const auto ec = in.rx.unprotect_rtcp(buf_.data(), len)) return count_refused(ec);
    }
    // Forwarded unchanged: SSRCs are end to end. (When the audio is transcoded the SR's RTP
    // timestamp and octet count stay those of the sender's codec; see docs/media-notes.md.)
    if (send_on(out, buf_.data(), len, buf_.size(), true)) ++stats_.rtcp_forwarded;
}

void RtpRelay::transcode(Route& r, Leg& out, const RtpHeader& h, bool a_to_b) {
    // Per-direction timestamp mapping; a new SSRC starts afresh (sender restart).
    if (!r.have_map || r.ssrc != h.ssrc) {
        r.have_map = true;
        r.ssrc = h.ssrc;
        r.last_in_ts = h.timestamp;
        r.ext_in = 0;
        r.out_base = h.timestamp;  // any base will do (RFC 3550 §5.1: random initial value)
        r.seq_delta = 0;
        r.pending = 0;
    } else {
        r.ext_in += static_cast<int32_t>(h.timestamp - r.last_in_ts);
        r.last_in_ts = h.timestamp;
    }

    size_t samples = 0;
    const auto room = std::span<int16_t>(r.pcm).subspan(r.pending);
    if (h.payload.empty() || r.decoder->decode(h.payload, room, samples)) {
        ++stats_.dropped_malformed;
        return;
    }
    ++stats_.transcoded;
    const size_t total = r.pending + samples;
    const size_t frames = total / kFrameSamples;

    // The first output frame starts `pending` samples (48 kHz) before this packet.
    const int64_t scaled =
        r.ext_in * static_cast<int64_t>(r.out_clock) / static_cast<int64_t>(r.in_clock);
    const int64_t back = static_cast<int64_t>(r.pending) * r.out_clock / kSampleRate;
    const uint32_t out_ts0 = r.out_base + static_cast<uint32_t>(scaled - back);
    const uint32_t out_step = r.encoder->info().timestamp_step;

    RtpHeader oh;
    oh.payload_type = r.out_pt;
    oh.ssrc = h.ssrc;
    oh.csrc_count = h.csrc_count;
    oh.csrc = h.csrc;
    for (size_t k = 0; k < frames; ++k) {
        oh.marker = h.marker && k == 0;
        oh.sequence = static_cast<uint16_t>(h.sequence + r.seq_delta + static_cast<int64_t>(k));
        oh.timestamp = out_ts0 + static_cast<uint32_t>(k * out_step);
        size_t header_len = 0;
        if (write_rtp_header(oh, out_buf_, header_len)) {
            ++stats_.dropped_malformed;
            break;
        }
        size_t payload_len = 0;
        const auto pcm = std::span<const int16_t>(r.pcm).subspan(k * kFrameSamples, kFrameSamples);
        const auto area = std::span<uint8_t>(out_buf_).subspan(header_len, kMaxEncodedFrame);
        if (r.encoder->encode(pcm, area, payload_len)) {
            ++stats_.dropped_malformed;
            continue;
        }
        if (send_on(out, out_buf_.data(), header_len + payload_len, out_buf_.size(), false)) {
            ++(a_to_b ? stats_.forwarded_a_to_b : stats_.forwarded_b_to_a);
        }
    }
    // One input packet normally gives one output packet, so sequence numbers (and gaps from
    // loss) pass through; other packet sizes shift the numbering.
    r.seq_delta += static_cast<int64_t>(frames) - 1;
    r.pending = total - frames * kFrameSamples;
    if (r.pending > 0 && frames > 0) {
        std::memmove(r.pcm.data(), r.pcm.data() + frames * kFrameSamples,
                     r.pending * sizeof(int16_t));
    }
}

}  // namespace p2psip::media
