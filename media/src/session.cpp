#include "p2psip/media/session.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "p2psip/media/error.hpp"
#include "random.hpp"

namespace p2psip::media {
namespace {

constexpr uint32_t kSeqMod = 1u << 16;
constexpr uint16_t kMaxDropout = 3000;  // RFC 3550 A.1
constexpr uint16_t kMaxMisorder = 100;  // RFC 3550 A.1

template <typename T>
T random_value() {
    T v{};
    std::array<uint8_t, sizeof(T)> bytes{};
    if (!detail::random_bytes(bytes)) {
        std::random_device rd;
        for (auto& b : bytes) b = static_cast<uint8_t>(rd());
    }
    std::memcpy(&v, bytes.data(), sizeof(T));
    return v;
}

}  // namespace

MediaSession::MediaSession(asio::io_context& io, MediaConfig config, SendFn send_packet)
    : config_(std::move(config)),
      send_(std::move(send_packet)),
      timer_(io),
      jitter_(JitterBufferConfig{
          .capacity = 64,
          .max_payload = kMaxEncodedFrame,
          .target_delay_frames = (config_.jitter_delay_ms + kFrameMs / 2) / kFrameMs,
          .idle_after_missing = 25,
      }) {}

MediaSession::~MediaSession() {
    stop();
}

std::error_code MediaSession::start() {
    if (running_) return errc::already_started;
    const auto info = find_codec(config_.codec_name);
    if (!info) return errc::unsupported_codec;
    if (config_.payload_type < 0 || config_.payload_type > 127) return errc::invalid_argument;
    if (config_.clock_rate != 0 && config_.clock_rate != info->clock_rate)
        return errc::invalid_argument;

    std::error_code ec;
    if (info->name == "opus") {
        encoder_ = make_opus_encoder(config_.opus, ec);
        if (ec) return ec;
    } else {
        encoder_ = make_encoder(info->name, ec);
        if (ec) return ec;
    }
    decoder_ = make_decoder(info->name, ec);
    if (ec) return ec;

    SrtpContext tx, rx;
    if (config_.tx_key) {
        if (auto e = SrtpContext::create(*config_.tx_key, SrtpDirection::outbound, tx)) return e;
    }
    if (config_.rx_key) {
        if (auto e = SrtpContext::create(*config_.rx_key, SrtpDirection::inbound, rx)) return e;
    }
    tx_srtp_ = std::move(tx);
    rx_srtp_ = std::move(rx);
    codec_ = *info;
    clock_rate_ = info->clock_rate;

    // RFC 3550 §5.1: random initial SSRC, sequence number and timestamp.
    ssrc_ = random_value<uint32_t>();
    seq_ = random_value<uint16_t>();
    timestamp_ = random_value<uint32_t>();
    first_packet_ = true;

    jitter_.reset();
    reset_receive_state();
    stats_ = MediaStats{};

    alive_ = std::make_shared<char>();
    running_ = true;
    start_ = Clock::now();
    tick_index_ = 0;
    schedule();
    return {};
}

void MediaSession::stop() {
    running_ = false;
    alive_.reset();
    timer_.cancel();
}

void MediaSession::schedule() {
    timer_.expires_at(start_ + tick_index_ * kTick);
    timer_.async_wait([this, alive = std::weak_ptr<char>(alive_)](const std::error_code& ec) {
        if (ec || alive.expired()) return;
        on_tick();
    });
}

void MediaSession::on_tick() {
    const auto late = Clock::now() - (start_ + tick_index_ * kTick);
    if (late > kSkipAheadAfter) {
        // Badly late (stalled loop, suspended process): skip the missed frames instead of
        // bursting them out; the RTP timestamp still advances (RFC 3550 §5.1).
        const auto missed = static_cast<uint64_t>(late / kTick);
        tick_index_ += missed;
        stats_.ticks_skipped += missed;
        timestamp_ += static_cast<uint32_t>(missed * codec_.timestamp_step);
        for (uint64_t i = 0; i < std::min<uint64_t>(missed, jitter_.config().capacity); ++i)
            (void)jitter_.pop();
    }
    send_frame();
    if (!running_) return;  // send_packet may have stopped us
    play_frame();
    ++stats_.ticks;
    ++tick_index_;
    schedule();
}

void MediaSession::send_frame() {
    if (!config_.source || !config_.source->read(pcm_)) pcm_.fill(0);

    size_t payload_len = 0;
    const auto payload_area = std::span(tx_buf_).subspan(kRtpHeaderSize, kMaxEncodedFrame);
    if (encoder_->encode(pcm_, payload_area, payload_len)) return;

    RtpHeader h;
    // RFC 3551 §4.1: the marker bit flags the first packet of a talkspurt.
    h.marker = first_packet_;
    h.payload_type = static_cast<uint8_t>(config_.payload_type);
    h.sequence = seq_;
    h.timestamp = timestamp_;
    h.ssrc = ssrc_;
    size_t header_len = 0;
    if (write_rtp_header(h, tx_buf_, header_len)) return;

    size_t len = header_len + payload_len;
    if (tx_srtp_.valid() && tx_srtp_.protect(tx_buf_.data(), len, tx_buf_.size())) return;

    first_packet_ = false;
    ++seq_;
    timestamp_ += codec_.timestamp_step;
    ++stats_.packets_sent;
    stats_.bytes_sent += len;
    if (send_) send_(std::span<const uint8_t>(tx_buf_.data(), len));
}

void MediaSession::play_frame() {
    const JitterFrame frame = jitter_.pop();
    size_t samples = 0;
    std::error_code ec;
    switch (frame.kind) {
        case JitterFrame::Kind::idle:
            std::fill_n(dec_buf_.begin(), kFrameSamples, int16_t{0});
            samples = kFrameSamples;
            break;
        case JitterFrame::Kind::packet:
            ec = decoder_->decode(frame.payload, dec_buf_, samples);
            if (ec) {
                ++stats_.packets_discarded;
                ec = decoder_->conceal(dec_buf_, samples);
                ++stats_.frames_concealed;
            } else {
                ++stats_.frames_played;
            }
            break;
        case JitterFrame::Kind::missing:
            ec = decoder_->recover(frame.next_payload, dec_buf_, samples);
            ++stats_.frames_concealed;
            break;
    }
    if (ec) {
        std::fill_n(dec_buf_.begin(), kFrameSamples, int16_t{0});
        samples = kFrameSamples;
    }
    if (config_.sink) config_.sink->write(std::span<const int16_t>(dec_buf_.data(), samples));
}

void MediaSession::reset_receive_state() {
    have_rx_ssrc_ = false;
    rx_ssrc_ = 0;
    max_seq_ = 0;
    cycles_ = 0;
    base_seq_ = 0;
    bad_seq_ = kSeqMod + 1;
    seq_received_ = 0;
    have_transit_ = false;
    last_transit_ = 0;
    jitter_est_ = 0;
}

// RFC 3550 A.1 update_seq (without probation: SRTP authenticates the source, and the first
// packet of a plaintext stream is taken at face value).
bool MediaSession::update_seq(uint16_t seq) {
    const auto udelta = static_cast<uint16_t>(seq - max_seq_);
    if (udelta < kMaxDropout) {
        if (seq < max_seq_) cycles_ += kSeqMod;  // wrapped
        max_seq_ = seq;
    } else if (udelta <= kSeqMod - kMaxMisorder) {
        // A very large jump: accept it only if the next packet confirms it (sender restart).
        if (seq == bad_seq_) {
            max_seq_ = seq;
            base_seq_ = seq;
            cycles_ = 0;
            seq_received_ = 0;
            bad_seq_ = kSeqMod + 1;
        } else {
            bad_seq_ = (seq + 1u) & (kSeqMod - 1);
            return false;
        }
    }
    // else: duplicate or reordered packet, counted as received (RFC 3550 A.3).
    ++seq_received_;
    return true;
}

void MediaSession::on_packet(std::span<const uint8_t> datagram) {
    if (!running_) return;
    if (datagram.size() > rx_buf_.size() || datagram.empty()) {
        ++stats_.packets_discarded;
        return;
    }
    std::memcpy(rx_buf_.data(), datagram.data(), datagram.size());
    size_t len = datagram.size();

    if (looks_like_rtcp(datagram)) {
        // RFC 5761 rtcp-mux: RTCP shares the port. Authenticate it; reports are not used yet.
        if (rx_srtp_.valid()) {
            const auto ec = rx_srtp_.unprotect_rtcp(rx_buf_.data(), len);
            if (ec == errc::srtp_auth_failed) ++stats_.srtp_auth_failures;
            if (ec) return;
        }
        ++stats_.rtcp_received;
        return;
    }
    if (!looks_like_rtp(datagram)) {
        ++stats_.packets_discarded;
        return;
    }
    if (rx_srtp_.valid()) {
        if (const auto ec = rx_srtp_.unprotect(rx_buf_.data(), len)) {
            if (ec == errc::srtp_auth_failed) {
                ++stats_.srtp_auth_failures;
            } else if (ec == errc::srtp_replay) {
                ++stats_.packets_duplicate;
            } else {
                ++stats_.packets_discarded;
            }
            return;
        }
    }
    RtpHeader h;
    if (parse_rtp(std::span<const uint8_t>(rx_buf_.data(), len), h) ||
        h.payload_type != config_.payload_type) {
        ++stats_.packets_discarded;
        return;
    }

    if (!have_rx_ssrc_ || h.ssrc != rx_ssrc_) {
        // A new source (first packet, or the peer restarted): start its statistics afresh.
        if (have_rx_ssrc_) jitter_.reset();
        reset_receive_state();
        have_rx_ssrc_ = true;
        rx_ssrc_ = h.ssrc;
        max_seq_ = h.sequence;  // RFC 3550 A.1 init_seq
        base_seq_ = h.sequence;
        seq_received_ = 1;
    } else if (!update_seq(h.sequence)) {
        ++stats_.packets_discarded;
        return;
    }
    ++stats_.packets_received;
    stats_.bytes_received += datagram.size();

    // RFC 3550 §6.4.1: J += (|D(i-1,i)| - J) / 16, with transit = arrival - timestamp in RTP units.
    const auto now = Clock::now().time_since_epoch();
    const auto arrival =
        static_cast<int64_t>(std::chrono::duration_cast<std::chrono::microseconds>(now).count() *
                             static_cast<int64_t>(clock_rate_) / 1'000'000);
    const int64_t transit = static_cast<int64_t>(static_cast<uint32_t>(arrival) - h.timestamp);
    if (have_transit_) {
        const auto d = static_cast<int32_t>(static_cast<uint32_t>(transit - last_transit_));
        jitter_est_ += (std::abs(static_cast<double>(d)) - jitter_est_) / 16.0;
    }
    have_transit_ = true;
    last_transit_ = transit;

    switch (jitter_.push(h.sequence, h.timestamp, h.payload)) {
        case JitterPush::accepted:
        case JitterPush::resynced:
            break;
        case JitterPush::duplicate:
            ++stats_.packets_duplicate;
            break;
        case JitterPush::late:
            ++stats_.packets_late;
            break;
        case JitterPush::too_large:
            ++stats_.packets_discarded;
            break;
    }
}

MediaStats MediaSession::stats() const {
    MediaStats s = stats_;
    if (have_rx_ssrc_) {
        // RFC 3550 A.3: expected = extended highest - base + 1; lost = expected - received.
        const uint64_t extended_max = uint64_t{cycles_} + max_seq_;
        const uint64_t expected = extended_max - base_seq_ + 1;
        s.packets_lost = expected > seq_received_ ? expected - seq_received_ : 0;
        if (clock_rate_ != 0) s.jitter_ms = jitter_est_ / clock_rate_ * 1000.0;
    }
    return s;
}

}  // namespace p2psip::media
