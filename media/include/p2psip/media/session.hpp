#pragma once

#include <utility>  // before asio, per project convention

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>

#include "p2psip/media/audio_device.hpp"
#include "p2psip/media/codec.hpp"
#include "p2psip/media/dtmf.hpp"
#include "p2psip/media/jitter_buffer.hpp"
#include "p2psip/media/quality.hpp"
#include "p2psip/media/rtcp.hpp"
#include "p2psip/media/rtp.hpp"
#include "p2psip/media/srtp.hpp"

namespace p2psip::media {

namespace asio = boost::asio;

struct MediaConfig {
    std::string codec_name = "opus";  // anything find_codec() knows: "opus", "PCMU", "PCMA", ...
    int payload_type = 111;           // negotiated RTP payload type (0..127), sent and expected
    uint32_t clock_rate = 0;          // RTP clock; 0 = the codec's (48000 Opus, 8000 G.711)
    std::optional<SrtpKeyMaterial> tx_key{};  // our a=crypto key; nullopt = plaintext RTP
    std::optional<SrtpKeyMaterial> rx_key{};  // the peer's a=crypto key; nullopt = plaintext RTP
    // Shared ownership: the session keeps them alive while it runs; the caller may keep a handle
    // (e.g. to close a WavFileSink after stop()). nullptr source = silence, nullptr sink = discard.
    std::shared_ptr<AudioSource> source{};
    std::shared_ptr<AudioSink> sink{};
    uint32_t jitter_delay_ms = 60;  // playout delay, rounded to 20 ms frames (adaptive: initial)
    OpusOptions opus{};             // used when the codec is Opus
    // RTCP (RFC 3550 §6, muxed on the RTP flow per RFC 5761, SRTCP with the same keys): the
    // minimum report interval Tmin (§6.2: 5 s; shorter only for tests); 0 = send no RTCP.
    uint32_t rtcp_interval_ms = 5000;
    std::string cname{};  // SDES CNAME; empty = a random one per start() (RFC 7022)
    // Adaptive playout delay (see JitterBuffer), bounded by [jitter_min_ms, jitter_max_ms];
    // false = fixed at jitter_delay_ms.
    bool jitter_adaptive = true;
    uint32_t jitter_min_ms = 10;
    uint32_t jitter_max_ms = 200;
    // RFC 4733 telephone-event payload type (negotiated as telephone-event/<codec clock>);
    // -1 = not negotiated: send_dtmf() fails and such packets are discarded.
    int dtmf_payload_type = -1;
    // Each received DTMF digit, once per event, on the io_context thread. It must not destroy
    // the session.
    std::function<void(char)> on_dtmf{};
};

struct MediaStats {
    uint64_t packets_sent = 0;
    uint64_t packets_received = 0;    // RTP packets accepted (authenticated, parsed, audio or
                                      // telephone-event PT)
    uint64_t packets_lost = 0;        // RFC 3550 A.3: expected - received, never negative
    uint64_t packets_late = 0;        // arrived after their playout time
    uint64_t bytes_sent = 0;          // datagram bytes handed to send_packet (incl. SRTP tag)
    uint64_t bytes_received = 0;      // datagram bytes of accepted packets
    uint64_t srtp_auth_failures = 0;  // RTP or RTCP datagrams with a bad auth tag
    double jitter_ms = 0;             // RFC 3550 §6.4.1 interarrival jitter
    uint64_t packets_duplicate = 0;   // SRTP replays and jitter-buffer duplicates
    uint64_t packets_discarded = 0;   // malformed, wrong payload type, oversize, bad sequence
    uint64_t rtcp_received = 0;       // RTCP compound packets accepted (rtcp-mux)
    uint64_t frames_played = 0;       // decoded frames written to the sink
    uint64_t frames_concealed = 0;    // PLC/FEC frames written to the sink
    uint64_t ticks = 0;               // 20 ms ticks processed
    uint64_t ticks_skipped = 0;       // ticks dropped because the timer was badly late
    // RTCP (RFC 3550 §6.4).
    uint64_t rtcp_sent = 0;              // compound RTCP packets sent (SR/RR + SDES [+ BYE])
    uint64_t remote_reports = 0;         // report blocks about our stream received from the peer
    std::optional<double> rtt_ms;        // latest round-trip time, A - LSR - DLSR (§6.4.1)
    double remote_fraction_lost = 0;     // the peer's view of our stream: 0..1, last interval
    int64_t remote_cumulative_lost = 0;  // the peer's view: packets of ours lost in total
    double remote_jitter_ms = 0;         // the peer's view: interarrival jitter of our packets
    uint64_t remote_packets_sent = 0;    // sender packet count from the peer's latest SR
    bool remote_bye = false;             // the peer sent an RTCP BYE
    // Playout (JitterBuffer).
    double playout_delay_ms = 0;       // current playout delay
    double mean_playout_delay_ms = 0;  // mean over the frames played from packets
    double jitter_target_ms = 0;       // the buffer's current target delay
    uint64_t frames_inserted = 0;      // concealment frames played to grow the delay
    uint64_t frames_dropped = 0;       // frames skipped to shrink the delay
    // DTMF (RFC 4733).
    uint64_t dtmf_sent = 0;      // events completed (end packet sent three times)
    uint64_t dtmf_received = 0;  // distinct events received
    // Hold (set_direction).
    uint64_t packets_held = 0;  // RTP discarded because receiving() was false
};

// The paced audio of one call: every 20 ms it reads a frame from the source, encodes it, sends
// one (S)RTP packet through send_packet, and plays one frame from the jitter buffer into the sink.
// Transport-agnostic: datagrams leave through send_packet and come back through on_packet().
// Single-threaded: every member function, and send_packet, runs on the io_context thread.
// Assumes 20 ms packetisation (ptime 20) from the peer. RTCP reports go out on the RFC 3550
// §6.3 randomised interval through the same send_packet (rtcp-mux); a BYE is sent by stop().
class MediaSession {
  public:
    using SendFn = std::function<void(std::span<const uint8_t>)>;

    MediaSession(asio::io_context& io, MediaConfig config, SendFn send_packet);
    ~MediaSession();
    MediaSession(const MediaSession&) = delete;
    MediaSession& operator=(const MediaSession&) = delete;

    // Validates the config, creates codec and SRTP contexts, starts the 20 ms tick.
    std::error_code start();
    // Sends an RTCP BYE (if RTCP is on) and stops the tick; incoming packets are ignored
    // afterwards. start() may be called again. The destructor stops without a BYE.
    void stop();
    bool running() const { return running_; }

    // An incoming RTP/SRTP (or muxed RTCP) datagram. Ignored unless running.
    void on_packet(std::span<const uint8_t> datagram);

    // Queues a DTMF digit ('0'-'9', '*', '#', 'A'-'D') as an RFC 4733 telephone-event. Events go
    // out one after another on the 20 ms media clock, replacing the audio packets while they
    // last: a first packet with the marker bit, updates every 20 ms, then the end packet three
    // times (§2.5.1), then at least 40 ms of audio before the next digit. `duration` is
    // rounded to 20 ms frames and clamped to 40 ms .. what the 16-bit duration field holds.
    // Errors: errc::not_running, errc::dtmf_not_negotiated, errc::invalid_argument (digit),
    // errc::queue_full (16 digits waiting).
    std::error_code send_dtmf(char digit,
                              std::chrono::milliseconds duration = std::chrono::milliseconds(100));
    size_t dtmf_pending() const { return dtmf_count_ + (dtmf_active_ ? 1 : 0); }

    // Media direction from SDP, for hold (RFC 3264 §5.1/§8.4, RFC 6337 §5.3). send=false: no
    // RTP goes out (our a=sendonly->a=inactive/recvonly side), the RTP timestamp keeps advancing
    // with time, RTCP continues; on resume the sequence number continues where it stopped and
    // the first packet carries the marker bit (new talkspurt, RFC 3551 §4.1); a DTMF event in
    // progress is abandoned. receive=false: incoming RTP is authenticated and then discarded
    // (counted in packets_held: not played, not counted as received or lost), the sink gets
    // silence, RTCP is still processed; any change of `receive` flushes the jitter buffer and
    // restarts the RFC 3550 A.1 receive statistics (losses so far are kept in packets_lost),
    // so the gap is not taken for a loss burst. Takes effect at once (from the next tick's
    // frame); may be called before start() and is kept across stop()/start().
    void set_direction(bool send, bool receive);
    bool sending() const { return sending_; }
    bool receiving() const { return receiving_; }

    MediaStats stats() const;
    // stats() condensed, with the E-model estimate of what this end hears (quality.hpp).
    QualityReport quality_report() const;
    uint32_t local_ssrc() const { return ssrc_; }
    const MediaConfig& config() const { return config_; }

    static constexpr std::chrono::milliseconds kTick{kFrameMs};
    // A tick this late is not caught up frame by frame: the missed frames are skipped.
    static constexpr std::chrono::milliseconds kSkipAheadAfter{200};

  private:
    using Clock = std::chrono::steady_clock;
    void schedule();
    void on_tick();
    void send_frame();
    void send_rtp(uint32_t timestamp, bool marker, uint8_t payload_type, size_t payload_len);
    bool send_dtmf_frame();
    void on_dtmf_packet(const RtpHeader& h);
    void play_frame();
    bool update_seq(uint16_t seq);
    void reset_receive_state();
    void halt();
    void send_rtcp(bool bye);
    void on_rtcp(size_t len);
    Clock::duration rtcp_interval(bool initial);

    MediaConfig config_;
    SendFn send_;
    asio::steady_timer timer_;
    std::shared_ptr<char> alive_;  // handlers hold a weak_ptr; reset by stop()
    bool running_ = false;
    bool sending_ = true;        // set_direction()
    bool receiving_ = true;      // set_direction()
    uint64_t lost_carried_ = 0;  // packets_lost of receive state reset by set_direction()

    std::unique_ptr<AudioEncoder> encoder_;
    std::unique_ptr<AudioDecoder> decoder_;
    SrtpContext tx_srtp_;
    SrtpContext rx_srtp_;
    JitterBuffer jitter_;
    CodecInfo codec_{};
    uint32_t clock_rate_ = 0;

    // Pacing: tick n is due at start_ + n * kTick (absolute, so it does not drift).
    Clock::time_point start_{};
    uint64_t tick_index_ = 0;

    // Sending.
    uint32_t ssrc_ = 0;
    uint16_t seq_ = 0;
    uint32_t timestamp_ = 0;     // RTP timestamp of the next tick's frame
    uint32_t tick_ts_ = 0;       // RTP timestamp of the current tick's frame ...
    Clock::time_point tick_at_;  // ... and the tick's deadline, for the SR's NTP/RTP pairing
    uint64_t payload_octets_ = 0;
    bool first_packet_ = true;
    std::array<int16_t, kFrameSamples> pcm_{};
    std::array<uint8_t, kRtpHeaderSize + kMaxEncodedFrame + kSrtpMaxOverhead> tx_buf_{};

    // DTMF sending: a queue of events, the one in progress, and the audio gap after it.
    struct DtmfDigit {
        uint8_t event = 0;
        uint32_t frames = 0;
    };
    static constexpr size_t kDtmfQueue = 16;
    std::array<DtmfDigit, kDtmfQueue> dtmf_queue_{};
    size_t dtmf_head_ = 0;
    size_t dtmf_count_ = 0;
    bool dtmf_active_ = false;
    DtmfDigit dtmf_now_{};
    uint32_t dtmf_ts_ = 0;    // the event's RTP timestamp (its start)
    uint32_t dtmf_done_ = 0;  // frames of the event sent so far
    uint32_t dtmf_ends_ = 0;  // end packets sent
    uint32_t dtmf_gap_ = 0;   // audio ticks still due before the next event
    // DTMF receiving.
    bool have_rx_event_ = false;
    uint32_t rx_event_ts_ = 0;

    // Receiving.
    std::array<uint8_t, 2048> rx_buf_{};
    std::array<int16_t, kMaxDecodedSamples> dec_buf_{};
    bool have_rx_ssrc_ = false;
    uint32_t rx_ssrc_ = 0;
    // RFC 3550 A.1 sequence state.
    uint16_t max_seq_ = 0;
    uint32_t cycles_ = 0;
    uint32_t base_seq_ = 0;
    uint32_t bad_seq_ = 0;
    uint64_t seq_received_ = 0;
    // RFC 3550 §6.4.1 jitter state, in RTP clock units.
    bool have_transit_ = false;
    int64_t last_transit_ = 0;
    double jitter_est_ = 0;
    // RFC 3550 A.3 interval counters for the fraction lost.
    uint64_t expected_prior_ = 0;
    uint64_t received_prior_ = 0;

    // RTCP.
    std::string cname_;
    Clock::time_point next_rtcp_{};
    uint64_t sent_at_report_[2] = {0, 0};  // packets_sent at the last two reports (§6.4)
    double avg_rtcp_size_ = 0;             // §6.3.3, octets incl. UDP/IP headers
    bool peer_sent_ = false;               // the peer has sent RTP since the previous report
    bool have_sr_ = false;                 // LSR/DLSR state (§6.4.1) for the peer's last SR
    uint32_t sr_ssrc_ = 0;
    uint32_t sr_compact_ = 0;
    Clock::time_point sr_arrival_{};
    uint64_t rng_state_ = 0;
    std::array<uint8_t, 512 + kSrtpMaxOverhead> rtcp_buf_{};

    MediaStats stats_;
};

}  // namespace p2psip::media
