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
#include "p2psip/media/jitter_buffer.hpp"
#include "p2psip/media/rtp.hpp"
#include "p2psip/media/srtp.hpp"

namespace p2psip::media {

namespace asio = boost::asio;

struct MediaConfig {
    std::string codec_name = "opus";  // anything find_codec() knows: "opus", "PCMU", "opus/48000/2"
    int payload_type = 111;           // negotiated RTP payload type (0..127), sent and expected
    uint32_t clock_rate = 0;          // RTP clock; 0 = the codec's (48000 Opus, 8000 PCMU)
    std::optional<SrtpKeyMaterial> tx_key{};  // our a=crypto key; nullopt = plaintext RTP
    std::optional<SrtpKeyMaterial> rx_key{};  // the peer's a=crypto key; nullopt = plaintext RTP
    // Shared ownership: the session keeps them alive while it runs; the caller may keep a handle
    // (e.g. to close a WavFileSink after stop()). nullptr source = silence, nullptr sink = discard.
    std::shared_ptr<AudioSource> source{};
    std::shared_ptr<AudioSink> sink{};
    uint32_t jitter_delay_ms = 60;  // fixed playout delay, rounded to 20 ms frames
    OpusOptions opus{};             // used when the codec is Opus
};

struct MediaStats {
    uint64_t packets_sent = 0;
    uint64_t packets_received = 0;    // RTP packets accepted (authenticated, parsed, right PT)
    uint64_t packets_lost = 0;        // RFC 3550 A.3: expected - received, never negative
    uint64_t packets_late = 0;        // arrived after their playout time
    uint64_t bytes_sent = 0;          // datagram bytes handed to send_packet (incl. SRTP tag)
    uint64_t bytes_received = 0;      // datagram bytes of accepted packets
    uint64_t srtp_auth_failures = 0;  // RTP or RTCP datagrams with a bad auth tag
    double jitter_ms = 0;             // RFC 3550 §6.4.1 interarrival jitter
    uint64_t packets_duplicate = 0;   // SRTP replays and jitter-buffer duplicates
    uint64_t packets_discarded = 0;   // malformed, wrong payload type, oversize, bad sequence
    uint64_t rtcp_received = 0;       // RTCP datagrams (rtcp-mux), currently only counted
    uint64_t frames_played = 0;       // decoded frames written to the sink
    uint64_t frames_concealed = 0;    // PLC/FEC frames written to the sink
    uint64_t ticks = 0;               // 20 ms ticks processed
    uint64_t ticks_skipped = 0;       // ticks dropped because the timer was badly late
};

// The paced audio of one call: every 20 ms it reads a frame from the source, encodes it, sends
// one (S)RTP packet through send_packet, and plays one frame from the jitter buffer into the sink.
// Transport-agnostic: datagrams leave through send_packet and come back through on_packet().
// Single-threaded: every member function, and send_packet, runs on the io_context thread.
// Assumes 20 ms packetisation (ptime 20) from the peer. RTCP is not generated yet.
class MediaSession {
  public:
    using SendFn = std::function<void(std::span<const uint8_t>)>;

    MediaSession(asio::io_context& io, MediaConfig config, SendFn send_packet);
    ~MediaSession();
    MediaSession(const MediaSession&) = delete;
    MediaSession& operator=(const MediaSession&) = delete;

    // Validates the config, creates codec and SRTP contexts, starts the 20 ms tick.
    std::error_code start();
    // Stops the tick; incoming packets are ignored afterwards. start() may be called again.
    void stop();
    bool running() const { return running_; }

    // An incoming RTP/SRTP (or muxed RTCP) datagram. Ignored unless running.
    void on_packet(std::span<const uint8_t> datagram);

    MediaStats stats() const;
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
    void play_frame();
    bool update_seq(uint16_t seq);
    void reset_receive_state();

    MediaConfig config_;
    SendFn send_;
    asio::steady_timer timer_;
    std::shared_ptr<char> alive_;  // handlers hold a weak_ptr; reset by stop()
    bool running_ = false;

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
    uint32_t timestamp_ = 0;
    bool first_packet_ = true;
    std::array<int16_t, kFrameSamples> pcm_{};
    std::array<uint8_t, kRtpHeaderSize + kMaxEncodedFrame + kSrtpMaxOverhead> tx_buf_{};

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

    MediaStats stats_;
};

}  // namespace p2psip::media
