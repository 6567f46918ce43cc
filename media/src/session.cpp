#include "p2psip/media/session.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "p2psip/media/error.hpp"
#include "random.hpp"

namespace p2psip::media {
namespace {

// RTP timestamp units per 20 ms frame at the codec's clock (0 for an unknown codec: start()
// refuses it anyway).
uint32_t frame_timestamps(const MediaConfig& config) {
    const auto info = find_codec(config.codec_name);
    return info ? info->clock_rate / (1000 / kFrameMs) : 0;
}

constexpr uint32_t kSeqMod = 1u << 16;
constexpr uint16_t kMaxDropout = 3000;  // RFC 3550 A.1
constexpr uint16_t kMaxMisorder = 100;  // RFC 3550 A.1

constexpr size_t kUdpIpOverhead = 28;

int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}  // RFC 3550 §6.3.3 counts lower-layer headers

// RFC 7022: a short-term random CNAME, 96 bits in base64 (16 characters).
std::string random_cname();

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

std::string random_cname() {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out(16, 'A');
    for (size_t i = 0; i < out.size(); i += 4) {
        uint32_t v = random_value<uint32_t>();
        for (size_t k = 0; k < 4; ++k, v >>= 6) out[i + k] = kAlphabet[v & 63];
    }
    return out;
}

// xorshift64*: cheap randomisation of the RTCP interval (no security role).
double next_uniform(uint64_t& state) {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return static_cast<double>((state * 0x2545F4914F6CDD1Dull) >> 11) * 0x1.0p-53;
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
          .adaptive = config_.jitter_adaptive,
          .min_delay_ms = config_.jitter_min_ms,
          .max_delay_ms = config_.jitter_max_ms,
          .timestamp_per_frame = frame_timestamps(config_),
      }) {}

MediaSession::~MediaSession() {
    halt();
}

std::error_code MediaSession::start() {
    if (running_) return errc::already_started;
    const auto info = find_codec(config_.codec_name);
    if (!info) return errc::unsupported_codec;
    if (config_.payload_type < 0 || config_.payload_type > 127) return errc::invalid_argument;
    if (config_.dtmf_payload_type > 127 || config_.dtmf_payload_type == config_.payload_type)
        return errc::invalid_argument;
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
    payload_octets_ = 0;
    dtmf_head_ = dtmf_count_ = 0;
    dtmf_active_ = false;
    dtmf_gap_ = 0;
    have_rx_event_ = false;

    jitter_ = JitterBuffer(jitter_.config());  // fresh statistics too
    reset_receive_state();
    lost_carried_ = 0;
    stats_ = MediaStats{};
    cname_ = config_.cname.empty() ? random_cname() : config_.cname.substr(0, kRtcpMaxCname);
    sent_at_report_[0] = sent_at_report_[1] = 0;
    avg_rtcp_size_ = 0;
    peer_sent_ = false;
    have_sr_ = false;
    rng_state_ = random_value<uint64_t>() | 1;

    alive_ = std::make_shared<char>();
    running_ = true;
    start_ = Clock::now();
    tick_index_ = 0;
    tick_at_ = start_;
    tick_ts_ = timestamp_;
    // RFC 3550 §6.2: the first report goes out after half the minimum interval.
    next_rtcp_ = start_ + rtcp_interval(true);
    schedule();
    return {};
}

void MediaSession::stop() {
    // RFC 3550 §6.3.7: say goodbye. (No BYE reconsideration: there are only two of us.)
    if (running_ && config_.rtcp_interval_ms != 0 && stats_.packets_sent > 0) {
        running_ = false;  // a send_packet that calls stop() again must not recurse
        send_rtcp(true);
    }
    halt();
}

void MediaSession::halt() {
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
            (void)jitter_.pop(now_us());
    }
    send_frame();
    if (!running_) return;  // send_packet may have stopped us
    play_frame();
    ++stats_.ticks;
    if (config_.rtcp_interval_ms != 0 && Clock::now() >= next_rtcp_) {
        send_rtcp(false);
        if (!running_) return;
        next_rtcp_ = Clock::now() + rtcp_interval(false);
    }
    ++tick_index_;
    schedule();
}

void MediaSession::send_frame() {
    // The RTP timestamp advances every tick, whether or not a packet goes out (RFC 3550 §5.1).
    const uint32_t ts = timestamp_;
    tick_ts_ = ts;
    tick_at_ = start_ + tick_index_ * kTick;
    timestamp_ += codec_.timestamp_step;

    // The source is read on hold too, so a live device does not back up.
    if (!config_.source || !config_.source->read(pcm_)) pcm_.fill(0);
    if (!sending_) return;          // RFC 3264 §5.1: sendonly/inactive from the peer's view
    if (send_dtmf_frame()) return;  // the event replaces this tick's audio
    size_t payload_len = 0;
    const auto payload_area = std::span(tx_buf_).subspan(kRtpHeaderSize, kMaxEncodedFrame);
    if (encoder_->encode(pcm_, payload_area, payload_len)) return;
    // RFC 3551 §4.1: the marker bit flags the first packet of a talkspurt.
    send_rtp(ts, first_packet_, static_cast<uint8_t>(config_.payload_type), payload_len);
}

std::error_code MediaSession::send_dtmf(char digit, std::chrono::milliseconds duration) {
    if (!running_) return errc::not_running;
    if (config_.dtmf_payload_type < 0) return errc::dtmf_not_negotiated;
    const auto event = dtmf_event_code(digit);
    if (!event) return errc::invalid_argument;
    if (dtmf_count_ == kDtmfQueue) return errc::queue_full;
    // RFC 4733 §2.5.2.3: the 16-bit duration field bounds one event (1.36 s at 48 kHz).
    const uint32_t max_frames = 0xffffu / codec_.timestamp_step;
    const auto frames = static_cast<uint32_t>((duration.count() + kFrameMs / 2) / kFrameMs);
    dtmf_queue_[(dtmf_head_ + dtmf_count_) % kDtmfQueue] = {*event,
                                                            std::clamp(frames, 2u, max_frames)};
    ++dtmf_count_;
    return {};
}

// RFC 4733 §2.5.1: called every tick; true if a telephone-event packet took the tick.
bool MediaSession::send_dtmf_frame() {
    if (!dtmf_active_) {
        if (dtmf_gap_ > 0) {
            --dtmf_gap_;
            return false;
        }
        if (dtmf_count_ == 0) return false;
        dtmf_now_ = dtmf_queue_[dtmf_head_];
        dtmf_head_ = (dtmf_head_ + 1) % kDtmfQueue;
        --dtmf_count_;
        dtmf_active_ = true;
        dtmf_ts_ = tick_ts_;  // §2.5.1.2: the event's timestamp is its start, kept throughout
        dtmf_done_ = 0;
        dtmf_ends_ = 0;
    }
    if (dtmf_done_ < dtmf_now_.frames) ++dtmf_done_;
    TelephoneEvent e;
    e.event = dtmf_now_.event;
    e.end = dtmf_done_ == dtmf_now_.frames;
    e.duration = static_cast<uint16_t>(dtmf_done_ * codec_.timestamp_step);
    size_t n = 0;
    const auto payload_area = std::span(tx_buf_).subspan(kRtpHeaderSize, kTelephoneEventSize);
    if (write_telephone_event(e, payload_area, n)) return false;
    // §2.5.1.2: the marker bit starts the event; §2.5.1.4: the end packet goes out three times,
    // each a new RTP packet with the same timestamp and duration.
    send_rtp(dtmf_ts_, dtmf_done_ == 1 && dtmf_ends_ == 0,
             static_cast<uint8_t>(config_.dtmf_payload_type), n);
    if (e.end && ++dtmf_ends_ == 3) {
        dtmf_active_ = false;
        dtmf_gap_ = 2;  // 40 ms of audio between digits
        ++stats_.dtmf_sent;
    }
    return true;
}

// Sends the payload already at tx_buf_[kRtpHeaderSize..] as the next RTP packet.
void MediaSession::send_rtp(uint32_t timestamp, bool marker, uint8_t payload_type,
                            size_t payload_len) {
    RtpHeader h;
    h.marker = marker;
    h.payload_type = payload_type;
    h.sequence = seq_;
    h.timestamp = timestamp;
    h.ssrc = ssrc_;
    size_t header_len = 0;
    if (write_rtp_header(h, tx_buf_, header_len)) return;

    size_t len = header_len + payload_len;
    if (tx_srtp_.valid() && tx_srtp_.protect(tx_buf_.data(), len, tx_buf_.size())) return;

    first_packet_ = false;
    ++seq_;
    ++stats_.packets_sent;
    stats_.bytes_sent += len;
    payload_octets_ += payload_len;
    if (send_) send_(std::span<const uint8_t>(tx_buf_.data(), len));
}

void MediaSession::set_direction(bool send, bool receive) {
    if (send != sending_) {
        if (send) {
            first_packet_ = true;  // RFC 3551 §4.1: a new talkspurt after the pause
        } else {
            dtmf_active_ = false;  // the event cannot finish while we send nothing
            dtmf_gap_ = 0;
        }
        sending_ = send;
    }
    if (receive != receiving_) {
        // The peer's stream pauses (or pausing ends): start its statistics afresh so the gap
        // is neither loss nor jitter (RFC 3550 A.1 re-initialisation); keep the losses so far.
        const MediaStats before = stats();
        lost_carried_ = before.packets_lost;
        reset_receive_state();
        jitter_.reset();
        have_rx_event_ = false;
        receiving_ = receive;
    }
}

void MediaSession::play_frame() {
    if (!receiving_) {
        std::fill_n(dec_buf_.begin(), kFrameSamples, int16_t{0});
        if (config_.sink)
            config_.sink->write(std::span<const int16_t>(dec_buf_.data(), kFrameSamples));
        return;
    }
    const JitterFrame frame = jitter_.pop(now_us());
    size_t samples = 0;
    std::error_code ec;
    switch (frame.kind) {
        case JitterFrame::Kind::idle:
            std::fill_n(dec_buf_.begin(), kFrameSamples, int16_t{0});
            samples = kFrameSamples;
            break;
        case JitterFrame::Kind::packet:
            if (frame.payload.empty()) {  // a telephone-event took this tick: no audio sent
                std::fill_n(dec_buf_.begin(), kFrameSamples, int16_t{0});
                samples = kFrameSamples;
                ++stats_.frames_played;
                break;
            }
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
        case JitterFrame::Kind::inserted:
            // The buffer grows its delay: extrapolate one frame (counted in frames_inserted).
            ec = decoder_->conceal(dec_buf_, samples);
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
    expected_prior_ = 0;
    received_prior_ = 0;
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
        // RFC 5761 rtcp-mux: RTCP shares the port; SRTCP uses the same master key (RFC 3711).
        if (rx_srtp_.valid()) {
            const auto ec = rx_srtp_.unprotect_rtcp(rx_buf_.data(), len);
            if (ec == errc::srtp_auth_failed) ++stats_.srtp_auth_failures;
            if (ec) return;
        }
        on_rtcp(len);
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
    if (!receiving_) {  // RFC 3264 §5.1: not receiving (on hold); RTCP above still counts
        ++stats_.packets_held;
        return;
    }
    RtpHeader h;
    if (parse_rtp(std::span<const uint8_t>(rx_buf_.data(), len), h) ||
        (h.payload_type != config_.payload_type &&
         (config_.dtmf_payload_type < 0 || h.payload_type != config_.dtmf_payload_type))) {
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
    peer_sent_ = true;

    if (h.payload_type != config_.payload_type) {
        on_dtmf_packet(h);
        return;
    }

    // RFC 3550 §6.4.1: J += (|D(i-1,i)| - J) / 16, with transit = arrival - timestamp in RTP units.
    const int64_t arrival_us = now_us();
    const int64_t arrival = arrival_us * static_cast<int64_t>(clock_rate_) / 1'000'000;
    const int64_t transit = static_cast<int64_t>(static_cast<uint32_t>(arrival) - h.timestamp);
    if (have_transit_) {
        const auto d = static_cast<int32_t>(static_cast<uint32_t>(transit - last_transit_));
        jitter_est_ += (std::abs(static_cast<double>(d)) - jitter_est_) / 16.0;
    }
    have_transit_ = true;
    last_transit_ = transit;

    switch (jitter_.push(h.sequence, h.timestamp, h.payload, arrival_us)) {
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

// RFC 3550 §6.3.1 / A.7 for a two-party session: Td = max(Tmin, n * avg_size / rtcp_bw), then
// randomised to [0.5, 1.5] Td and divided by e - 3/2 to compensate timer reconsideration.
MediaSession::Clock::duration MediaSession::rtcp_interval(bool initial) {
    double tmin = config_.rtcp_interval_ms / 1000.0;
    if (initial) tmin /= 2;  // §6.2
    // The session bandwidth is not signalled (no b=AS); estimate it as both directions at our
    // own send rate, and give RTCP 5 % of it (§6.2).
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    const double send_rate = elapsed > 1 ? stats_.bytes_sent / elapsed : 4000.0;
    const double rtcp_bw = 0.05 * 2 * std::max(send_rate, 1000.0);
    const double members = have_rx_ssrc_ ? 2 : 1;
    const double avg = avg_rtcp_size_ > 0 ? avg_rtcp_size_ : 100.0;
    const double td = std::max(tmin, members * avg / rtcp_bw);
    const double t = td * (0.5 + next_uniform(rng_state_)) / (std::exp(1.0) - 1.5);
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(t));
}

void MediaSession::send_rtcp(bool bye) {
    const auto now = Clock::now();
    RtcpReport r;
    r.ssrc = ssrc_;
    // §6.4: an SR if we sent RTP during the last two reporting intervals.
    r.sender_report = stats_.packets_sent > sent_at_report_[0];
    if (r.sender_report) {
        r.sender.ntp = to_ntp(std::chrono::system_clock::now());
        // The RTP timestamp that corresponds to that instant, on the media clock.
        const auto since_tick =
            std::chrono::duration_cast<std::chrono::microseconds>(now - tick_at_).count();
        r.sender.rtp_timestamp =
            tick_ts_ +
            static_cast<uint32_t>(since_tick * static_cast<int64_t>(clock_rate_) / 1'000'000);
        r.sender.packet_count = static_cast<uint32_t>(stats_.packets_sent);
        r.sender.octet_count = static_cast<uint32_t>(payload_octets_);
    }
    if (have_rx_ssrc_ && peer_sent_) {
        // §6.4.1 / A.3: one block about the peer's stream.
        RtcpReportBlock& b = r.blocks[0];
        r.block_count = 1;
        const uint64_t extended_max = uint64_t{cycles_} + max_seq_;
        const uint64_t expected = extended_max - base_seq_ + 1;
        const int64_t lost = static_cast<int64_t>(expected) - static_cast<int64_t>(seq_received_);
        const uint64_t expected_interval = expected - expected_prior_;
        const uint64_t received_interval = seq_received_ - received_prior_;
        expected_prior_ = expected;
        received_prior_ = seq_received_;
        const int64_t lost_interval =
            static_cast<int64_t>(expected_interval) - static_cast<int64_t>(received_interval);
        b.ssrc = rx_ssrc_;
        b.fraction_lost =
            expected_interval == 0 || lost_interval <= 0
                ? 0
                : static_cast<uint8_t>(std::min<int64_t>(
                      255, (lost_interval << 8) / static_cast<int64_t>(expected_interval)));
        b.cumulative_lost = static_cast<int32_t>(std::clamp<int64_t>(lost, -0x800000, 0x7fffff));
        b.highest_seq = static_cast<uint32_t>(extended_max);
        b.jitter = static_cast<uint32_t>(jitter_est_);
        if (have_sr_ && sr_ssrc_ == rx_ssrc_) {
            b.lsr = sr_compact_;
            const auto delay = std::chrono::duration<double>(now - sr_arrival_).count();
            b.dlsr = static_cast<uint32_t>(std::clamp(delay * 65536.0, 0.0, 4294967295.0));
        }
    }

    size_t len = 0, n = 0;
    const std::span<uint8_t> buf(rtcp_buf_.data(), rtcp_buf_.size() - kSrtpMaxOverhead);
    if (write_rtcp_report(r, buf, n)) return;
    len += n;
    // §6.1: every compound packet carries an SDES CNAME.
    if (write_rtcp_sdes_cname(ssrc_, cname_, buf.subspan(len), n)) return;
    len += n;
    if (bye) {
        if (write_rtcp_bye(ssrc_, buf.subspan(len), n)) return;
        len += n;
    }
    if (tx_srtp_.valid() && tx_srtp_.protect_rtcp(rtcp_buf_.data(), len, rtcp_buf_.size())) return;

    sent_at_report_[0] = sent_at_report_[1];
    sent_at_report_[1] = stats_.packets_sent;
    peer_sent_ = false;
    // §6.3.3: avg_rtcp_size = 1/16 * packet_size + 15/16 * avg_rtcp_size.
    const double size = static_cast<double>(len + kUdpIpOverhead);
    avg_rtcp_size_ = avg_rtcp_size_ > 0 ? avg_rtcp_size_ + (size - avg_rtcp_size_) / 16 : size;
    ++stats_.rtcp_sent;
    if (send_) send_(std::span<const uint8_t>(rtcp_buf_.data(), len));
}

void MediaSession::on_rtcp(size_t len) {
    RtcpCompound c;
    if (parse_rtcp(std::span<const uint8_t>(rx_buf_.data(), len), c)) {
        ++stats_.packets_discarded;
        return;
    }
    ++stats_.rtcp_received;
    const double size = static_cast<double>(len + kUdpIpOverhead);
    avg_rtcp_size_ = avg_rtcp_size_ > 0 ? avg_rtcp_size_ + (size - avg_rtcp_size_) / 16 : size;
    if (c.bye) stats_.remote_bye = true;
    if (!c.has_report) return;
    const RtcpReport& r = c.report;
    if (r.sender_report) {
        // §6.4.1: remember the SR for the LSR/DLSR of our next report block.
        have_sr_ = true;
        sr_ssrc_ = r.ssrc;
        sr_compact_ = ntp_compact(r.sender.ntp);
        sr_arrival_ = Clock::now();
        stats_.remote_packets_sent = r.sender.packet_count;
    }
    for (size_t i = 0; i < r.block_count; ++i) {
        const RtcpReportBlock& b = r.blocks[i];
        if (b.ssrc != ssrc_) continue;
        ++stats_.remote_reports;
        stats_.remote_fraction_lost = b.fraction_lost / 256.0;
        stats_.remote_cumulative_lost = b.cumulative_lost;
        if (clock_rate_ != 0) stats_.remote_jitter_ms = b.jitter * 1000.0 / clock_rate_;
        const auto arrival = ntp_compact(to_ntp(std::chrono::system_clock::now()));
        if (const auto rtt = rtcp_round_trip(arrival, b.lsr, b.dlsr)) stats_.rtt_ms = *rtt * 1000;
    }
}

// RFC 4733 §2.5.2: a new event is recognised by its timestamp; updates and the repeated end
// packets carry the same one. Each event is reported once, on its first packet to arrive.
void MediaSession::on_dtmf_packet(const RtpHeader& h) {
    TelephoneEvent e;
    if (parse_telephone_event(h.payload, e)) {
        ++stats_.packets_discarded;
        return;
    }
    // The event's packets stand in for the audio of their ticks: play silence there rather
    // than conceal. (Their timestamps are the event's start, so they stay out of the §6.4.1
    // jitter estimate.)
    (void)jitter_.push(h.sequence, h.timestamp, {}, now_us());
    const bool newer = !have_rx_event_ || static_cast<int32_t>(h.timestamp - rx_event_ts_) > 0;
    if (!newer) return;
    have_rx_event_ = true;
    rx_event_ts_ = h.timestamp;
    const auto digit = dtmf_digit(e.event);
    if (!digit) return;  // not a DTMF event (e.g. flash): nothing to report
    ++stats_.dtmf_received;
    if (config_.on_dtmf) config_.on_dtmf(*digit);
}

MediaStats MediaSession::stats() const {
    MediaStats s = stats_;
    const JitterStats js = jitter_.stats();
    s.playout_delay_ms = js.delay_ms;
    s.mean_playout_delay_ms = js.mean_delay_ms;
    s.jitter_target_ms = js.target_ms;
    s.frames_inserted = js.frames_inserted;
    s.frames_dropped = js.frames_dropped;
    if (have_rx_ssrc_) {
        // RFC 3550 A.3: expected = extended highest - base + 1; lost = expected - received.
        const uint64_t extended_max = uint64_t{cycles_} + max_seq_;
        const uint64_t expected = extended_max - base_seq_ + 1;
        s.packets_lost = expected > seq_received_ ? expected - seq_received_ : 0;
    }
    s.packets_lost += lost_carried_;
    if (have_rx_ssrc_) {
        if (clock_rate_ != 0) s.jitter_ms = jitter_est_ / clock_rate_ * 1000.0;
    }
    return s;
}

QualityReport MediaSession::quality_report() const {
    const MediaStats s = stats();
    QualityReport q;
    q.packets_sent = s.packets_sent;
    q.packets_received = s.packets_received;
    q.packets_lost = s.packets_lost;
    q.packets_late = s.packets_late;
    const double expected = static_cast<double>(s.packets_received + s.packets_lost);
    q.loss_percent = expected > 0
                         ? 100.0 * static_cast<double>(s.packets_lost + s.packets_late) / expected
                         : 0.0;
    q.jitter_ms = s.jitter_ms;
    q.rtt_ms = s.rtt_ms;
    q.playout_delay_ms = s.mean_playout_delay_ms;
    q.one_way_delay_ms = s.rtt_ms.value_or(0) / 2 + s.mean_playout_delay_ms + kFrameMs +
                         codec_lookahead_ms(config_.codec_name);
    q.remote_loss_percent = s.remote_fraction_lost * 100;
    q.remote_jitter_ms = s.remote_jitter_ms;
    q.r_factor =
        emodel_r_factor(q.one_way_delay_ms, q.loss_percent, emodel_codec(config_.codec_name));
    q.mos = r_to_mos(q.r_factor);
    return q;
}

}  // namespace p2psip::media
