// media_bench: what one call costs and how steady its clock is.
//
//   media_bench [--call-seconds N] [--pairs K] [--clock-seconds N]
//
// 1. References: raw libopus encode/decode of a 20 ms frame (the session's settings) and raw
//    libsrtp2 protect/unprotect of a typical Opus packet.
// 2. Full-duplex calls: K pairs of MediaSessions back to back on one io_context thread (Opus,
//    SRTP both ways, adaptive jitter buffer, RTCP), datagrams handed over synchronously. CPU
//    time of the process over wall time, per call end (one side of a call), as % of one core.
// 3. Send clock: one session for N seconds; when each tick starts (its source read) against
//    its absolute deadline (start + n * 20 ms, n from the RTP timestamp): percentiles, and the
//    drift (least-squares slope of that lateness) over the run.
// 4. One-way added delay on loopback: two sessions exchanging real UDP datagrams over
//    127.0.0.1. A source emits a 1 kHz burst every 500 ms; the delay is from the instant the
//    burst's first sample is handed to the sending session to the instant the receiving
//    session hands it to its sink. Capture to playout adds the 20 ms a device needs to fill a
//    frame before it can be read; both are printed, for the steady state after 10 s of a
//    call. Runs at four tick phases between the two
//    ends (a real peer's clock has an arbitrary phase).
// References are thread CPU time; the call cost is process CPU time over wall time. The clock
// figures depend on the machine's load, which is printed alongside.
#include <utility>  // before asio, per project convention

#include <opus/opus.h>
#include <srtp2/srtp.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "p2psip/media/audio_device.hpp"
#include "p2psip/media/codec.hpp"
#include "p2psip/media/rtp.hpp"
#include "p2psip/media/session.hpp"
#include "p2psip/media/srtp.hpp"

namespace asio = boost::asio;
namespace media = p2psip::media;
using Clock = std::chrono::steady_clock;

namespace {

double process_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string load_average() {
    std::string s;
    if (FILE* f = std::fopen("/proc/loadavg", "r")) {
        char buf[128] = {};
        if (std::fgets(buf, sizeof buf, f)) s = buf;
        std::fclose(f);
    }
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
}

// Speech-like test signal: two tones with a slow amplitude envelope plus a little noise.
void fill_signal(std::vector<int16_t>& pcm) {
    uint32_t noise = 12345;
    for (size_t i = 0; i < pcm.size(); ++i) {
        const double t = static_cast<double>(i) / media::kSampleRate;
        noise = noise * 1664525u + 1013904223u;
        const double env = 0.5 + 0.5 * std::sin(2 * M_PI * 3 * t);
        const double v =
            env * (0.25 * std::sin(2 * M_PI * 220 * t) + 0.1 * std::sin(2 * M_PI * 1330 * t)) +
            0.01 * (static_cast<double>(noise >> 16) / 32768.0 - 1.0);
        pcm[i] = static_cast<int16_t>(std::lround(v * 32767));
    }
}

struct Reference {
    double opus_encode_us = 0, opus_decode_us = 0, srtp_protect_us = 0, srtp_unprotect_us = 0;
    size_t opus_bytes = 0;
};

Reference measure_references() {
    Reference ref;
    constexpr int kFrames = 3000;  // 60 s of audio
    std::vector<int16_t> pcm(media::kFrameSamples * kFrames);
    fill_signal(pcm);

    // Raw libopus with MediaSession's settings (codec.hpp OpusOptions defaults).
    int err = 0;
    OpusEncoder* enc = opus_encoder_create(media::kSampleRate, 1, OPUS_APPLICATION_VOIP, &err);
    OpusDecoder* dec = opus_decoder_create(media::kSampleRate, 1, &err);
    const media::OpusOptions o;
    opus_encoder_ctl(enc, OPUS_SET_BITRATE(o.bitrate));
    opus_encoder_ctl(enc, OPUS_SET_INBAND_FEC(o.inband_fec ? 1 : 0));
    opus_encoder_ctl(enc, OPUS_SET_PACKET_LOSS_PERC(o.expected_loss_percent));
    opus_encoder_ctl(enc, OPUS_SET_COMPLEXITY(o.complexity));
    std::vector<std::array<uint8_t, media::kMaxEncodedFrame>> packets(kFrames);
    std::vector<int> sizes(kFrames);
    // Thread CPU time, not wall time: other processes on the machine do not inflate it.
    double t0 = thread_cpu_seconds();
    for (int i = 0; i < kFrames; ++i) {
        sizes[i] = opus_encode(enc, pcm.data() + i * media::kFrameSamples,
                               static_cast<int>(media::kFrameSamples), packets[i].data(),
                               static_cast<opus_int32>(packets[i].size()));
    }
    ref.opus_encode_us = (thread_cpu_seconds() - t0) * 1e6 / kFrames;
    size_t total = 0;
    for (int s : sizes) total += static_cast<size_t>(std::max(s, 0));
    ref.opus_bytes = total / kFrames;
    std::array<int16_t, media::kMaxDecodedSamples> out{};
    t0 = thread_cpu_seconds();
    int decode_failures = 0;
    for (int i = 0; i < kFrames; ++i) {
        if (opus_decode(dec, packets[i].data(), sizes[i], out.data(),
                        static_cast<int>(media::kMaxDecodedSamples), 0) <= 0)
            ++decode_failures;
    }
    ref.opus_decode_us = (thread_cpu_seconds() - t0) * 1e6 / kFrames;
    if (decode_failures || std::any_of(sizes.begin(), sizes.end(), [](int n) { return n <= 0; }))
        std::fprintf(stderr, "warning: opus reference had failures\n");
    opus_encoder_destroy(enc);
    opus_decoder_destroy(dec);

    // Raw libsrtp2, AES_CM_128_HMAC_SHA1_80, a 12 + opus_bytes packet.
    (void)media::srtp_init();
    std::array<uint8_t, 30> key{};
    for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i * 7 + 1);
    auto make = [&](srtp_ssrc_type_t type) {
        srtp_policy_t p{};
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtcp);
        p.ssrc.type = type;
        p.key = key.data();
        p.window_size = 1024;
        srtp_t s = nullptr;
        srtp_create(&s, &p);
        return s;
    };
    srtp_t tx = make(ssrc_any_outbound), rx = make(ssrc_any_inbound);
    constexpr int kPackets = 200'000;
    const size_t len = media::kRtpHeaderSize + ref.opus_bytes;
    std::vector<std::array<uint8_t, 256>> wire(1000);
    std::vector<int> wire_len(wire.size());
    double protect_s = 0, unprotect_s = 0;
    int srtp_failures = 0;
    uint16_t seq = 1;
    for (int done = 0; done < kPackets; done += static_cast<int>(wire.size())) {
        t0 = thread_cpu_seconds();
        for (size_t i = 0; i < wire.size(); ++i, ++seq) {
            auto& b = wire[i];
            std::memset(b.data(), 0x5a, len);
            media::RtpHeader h;
            h.payload_type = 111;
            h.sequence = seq;
            h.timestamp = seq * 960u;
            h.ssrc = 0x1234;
            size_t n = 0;
            (void)media::write_rtp_header(h, b, n);
            int l = static_cast<int>(len);
            if (srtp_protect(tx, b.data(), &l) != srtp_err_status_ok) ++srtp_failures;
            wire_len[i] = l;
        }
        protect_s += thread_cpu_seconds() - t0;
        t0 = thread_cpu_seconds();
        for (size_t i = 0; i < wire.size(); ++i) {
            if (srtp_unprotect(rx, wire[i].data(), &wire_len[i]) != srtp_err_status_ok)
                ++srtp_failures;
        }
        unprotect_s += thread_cpu_seconds() - t0;
    }
    if (srtp_failures) std::fprintf(stderr, "warning: %d SRTP failures\n", srtp_failures);
    ref.srtp_protect_us = protect_s * 1e6 / kPackets;
    ref.srtp_unprotect_us = unprotect_s * 1e6 / kPackets;
    srtp_dealloc(tx);
    srtp_dealloc(rx);
    return ref;
}

// A source that loops a prepared speech-like signal.
class LoopSource final : public media::AudioSource {
  public:
    explicit LoopSource(size_t offset) : pcm_(media::kSampleRate * 4), pos_(offset % pcm_.size()) {
        fill_signal(pcm_);
    }
    bool read(std::span<int16_t> frame) override {
        for (auto& s : frame) {
            s = pcm_[pos_];
            pos_ = (pos_ + 1) % pcm_.size();
        }
        return true;
    }

  private:
    std::vector<int16_t> pcm_;
    size_t pos_;
};

struct CallResult {
    double cpu_percent_per_end = 0;
    double wall_s = 0;
    uint64_t packets = 0, concealed = 0;
};

CallResult measure_calls(int pairs, double seconds) {
    asio::io_context io;
    std::vector<std::unique_ptr<media::MediaSession>> ends(2 * static_cast<size_t>(pairs));
    for (int p = 0; p < pairs; ++p) {
        const auto k1 = media::generate_key(), k2 = media::generate_key();
        for (int side = 0; side < 2; ++side) {
            media::MediaConfig c{.codec_name = "opus", .payload_type = 111};
            c.tx_key = side == 0 ? k1 : k2;
            c.rx_key = side == 0 ? k2 : k1;
            c.source = std::make_shared<LoopSource>(static_cast<size_t>(p * 9973 + side * 4801));
            c.sink = std::make_shared<media::NullSink>();
            const size_t me = 2 * static_cast<size_t>(p) + static_cast<size_t>(side);
            const size_t peer = me ^ 1;
            ends[me] = std::make_unique<media::MediaSession>(
                io, std::move(c),
                [&ends, peer](std::span<const uint8_t> d) { ends[peer]->on_packet(d); });
        }
    }
    for (auto& e : ends) (void)e->start();
    // Skip the first second (codec and SRTP stream set-up), then measure.
    CallResult r;
    double cpu0 = 0;
    Clock::time_point wall0;
    asio::steady_timer warm(io), stop(io);
    warm.expires_after(std::chrono::seconds(1));
    warm.async_wait([&](const boost::system::error_code&) {
        cpu0 = process_cpu_seconds();
        wall0 = Clock::now();
    });
    stop.expires_after(
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 + seconds)));
    stop.async_wait([&](const boost::system::error_code&) {
        const double cpu = process_cpu_seconds() - cpu0;
        r.wall_s = seconds_since(wall0);
        r.cpu_percent_per_end = 100.0 * cpu / r.wall_s / static_cast<double>(ends.size());
        for (auto& e : ends) e->stop();
    });
    io.run();
    for (auto& e : ends) {
        const auto s = e->stats();
        r.packets += s.packets_received;
        r.concealed += s.frames_concealed;
    }
    return r;
}

struct ClockResult {
    size_t ticks = 0;
    uint64_t skipped = 0;
    double p50_us = 0, p99_us = 0, p999_us = 0, max_us = 0, drift_us = 0, drift_ppm = 0;
};

// Records when each tick starts: the session reads its source first thing in a tick.
class TimedSource final : public media::AudioSource {
  public:
    bool read(std::span<int16_t> frame) override {
        last_read = Clock::now();
        return inner.read(frame);
    }
    LoopSource inner{0};
    Clock::time_point last_read{};
};

ClockResult measure_clock(double seconds) {
    asio::io_context io;
    std::vector<std::pair<uint32_t, Clock::time_point>> ticks;  // (RTP timestamp, tick start)
    ticks.reserve(static_cast<size_t>(seconds * 50) + 100);
    media::MediaConfig c{.codec_name = "opus", .payload_type = 111};
    c.tx_key = media::generate_key();
    auto source = std::make_shared<TimedSource>();
    c.source = source;
    media::MediaSession s(io, c, [&](std::span<const uint8_t> d) {
        media::RtpHeader h;
        if (media::looks_like_rtp(d) && !media::parse_rtp(d, h))
            ticks.emplace_back(h.timestamp, source->last_read);
    });
    (void)s.start();
    // start() takes its start instant just before it returns (after creating the codec and
    // SRTP contexts): this is within microseconds of it.
    const auto start = Clock::now();
    asio::steady_timer stop(io);
    stop.expires_after(
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds)));
    stop.async_wait([&](const boost::system::error_code&) { s.stop(); });
    io.run();

    ClockResult r;
    r.ticks = ticks.size();
    r.skipped = s.stats().ticks_skipped;
    if (ticks.size() < 2) return r;
    // Lateness of tick n against its absolute deadline start + n * 20 ms (n from the RTP
    // timestamp, so skipped ticks keep their place).
    std::vector<double> late, at_s;
    late.reserve(ticks.size());
    at_s.reserve(ticks.size());
    const uint32_t ts0 = ticks.front().first;
    for (const auto& [ts, at] : ticks) {
        const auto n = static_cast<int64_t>(static_cast<uint32_t>(ts - ts0) / 960u);
        const auto deadline = start + n * std::chrono::milliseconds(20);
        late.push_back(std::chrono::duration<double, std::micro>(at - deadline).count());
        at_s.push_back(std::chrono::duration<double>(at - start).count());
    }
    // Drift: least-squares slope of the lateness over the run (0 for absolute deadlines; a
    // relative "now + 20 ms" timer would accumulate its per-tick overhead here).
    double mx = 0, my = 0;
    for (size_t i = 0; i < late.size(); ++i) {
        mx += at_s[i];
        my += late[i];
    }
    mx /= static_cast<double>(late.size());
    my /= static_cast<double>(late.size());
    double sxy = 0, sxx = 0;
    for (size_t i = 0; i < late.size(); ++i) {
        sxy += (at_s[i] - mx) * (late[i] - my);
        sxx += (at_s[i] - mx) * (at_s[i] - mx);
    }
    const double slope_us_per_s = sxx > 0 ? sxy / sxx : 0;
    r.drift_ppm = slope_us_per_s;  // us per s == ppm
    r.drift_us = slope_us_per_s * (at_s.back() - at_s.front());
    std::sort(late.begin(), late.end());
    auto pct = [&](double q) {
        return late[std::min(late.size() - 1, static_cast<size_t>(q * (late.size() - 1)))];
    };
    r.p50_us = pct(0.50);
    r.p99_us = pct(0.99);
    r.p999_us = pct(0.999);
    r.max_us = late.back();
    return r;
}

// Silence with a 20 ms 1 kHz burst every kPulseEvery frames; remembers when each burst's frame
// was read (its first sample is the frame's first sample).
class PulseSource final : public media::AudioSource {
  public:
    static constexpr uint64_t kPulseEvery = 25;  // 500 ms
    bool read(std::span<int16_t> frame) override {
        const bool pulse = frame_++ % kPulseEvery == kPulseEvery - 1;
        for (size_t i = 0; i < frame.size(); ++i) {
            frame[i] = pulse ? static_cast<int16_t>(std::lround(
                                   16000 * std::sin(2 * M_PI * 1000.0 * static_cast<double>(i) /
                                                    media::kSampleRate)))
                             : 0;
        }
        // The burst starts with sin(0) = 0: its first audible sample is index 1.
        if (pulse) sent.push_back(Clock::now() + std::chrono::microseconds(21));
        return true;
    }
    std::vector<Clock::time_point> sent;

  private:
    uint64_t frame_ = 0;
};

// Finds each burst's onset (first sample above 1/10 of the burst's amplitude after a quiet
// frame) and when it reached the sink.
class OnsetSink final : public media::AudioSink {
  public:
    void write(std::span<const int16_t> frame) override {
        const auto now = Clock::now();
        bool loud = false;
        for (size_t i = 0; i < frame.size(); ++i) {
            if (std::abs(frame[i]) < 1600) continue;
            loud = true;
            if (!in_burst_) {
                in_burst_ = true;
                heard.push_back(now + std::chrono::microseconds(static_cast<int64_t>(i) *
                                                                1'000'000 / media::kSampleRate));
            }
            break;
        }
        if (!loud) in_burst_ = false;
    }
    std::vector<Clock::time_point> heard;

  private:
    bool in_burst_ = false;
};

struct DelayResult {
    std::vector<double> ms;  // session one-way delay per burst, all phases
    uint64_t unmatched = 0;
};

// One phase: A sends bursts to B over real UDP on 127.0.0.1; B's tick is `phase` after A's.
void measure_delay_phase(std::chrono::microseconds phase, double seconds, DelayResult& out) {
    using udp = asio::ip::udp;
    asio::io_context io;
    udp::socket sa(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    udp::socket sb(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const auto ea = sa.local_endpoint(), eb = sb.local_endpoint();
    const auto ka = media::generate_key(), kb = media::generate_key();
    auto source = std::make_shared<PulseSource>();
    auto sink = std::make_shared<OnsetSink>();
    media::MediaConfig ca{.codec_name = "opus", .payload_type = 111, .tx_key = ka, .rx_key = kb};
    media::MediaConfig cb{.codec_name = "opus", .payload_type = 111, .tx_key = kb, .rx_key = ka};
    ca.source = source;
    ca.sink = std::make_shared<media::NullSink>();
    cb.source = std::make_shared<media::NullSource>();
    cb.sink = sink;
    media::MediaSession a(io, ca, [&](std::span<const uint8_t> d) {
        boost::system::error_code ec;
        sa.send_to(asio::buffer(d.data(), d.size()), eb, 0, ec);
    });
    media::MediaSession b(io, cb, [&](std::span<const uint8_t> d) {
        boost::system::error_code ec;
        sb.send_to(asio::buffer(d.data(), d.size()), ea, 0, ec);
    });
    std::array<uint8_t, 2048> ba{}, bb{};
    std::function<void(udp::socket&, std::array<uint8_t, 2048>&, media::MediaSession&)> rx =
        [&](udp::socket& s, std::array<uint8_t, 2048>& buf, media::MediaSession& to) {
            s.async_receive(asio::buffer(buf), [&](const boost::system::error_code& ec, size_t n) {
                if (ec) return;
                to.on_packet(std::span<const uint8_t>(buf.data(), n));
                rx(s, buf, to);
            });
        };
    rx(sa, ba, a);
    rx(sb, bb, b);
    (void)a.start();
    asio::steady_timer later(io), stop(io);
    later.expires_after(phase);
    later.async_wait([&](const boost::system::error_code&) { (void)b.start(); });
    stop.expires_after(
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds)));
    stop.async_wait([&](const boost::system::error_code&) {
        a.stop();
        b.stop();
        sa.close();
        sb.close();
    });
    io.run();
    // Pair bursts in order; the first 10 s let the adaptive buffer settle from its initial 60 ms
    // (the peak delay variation it starts from decays with a 5 s half-life). A burst is heard
    // within 500 ms of being sent or it was lost.
    const auto settle = std::chrono::seconds(10);
    const auto t0 = source->sent.empty() ? Clock::now() : source->sent.front();
    size_t h = 0;
    for (const auto& s : source->sent) {
        while (h < sink->heard.size() && sink->heard[h] < s) ++h;
        if (h == sink->heard.size() || sink->heard[h] - s > std::chrono::milliseconds(500)) {
            ++out.unmatched;
            continue;
        }
        if (s - t0 >= settle)
            out.ms.push_back(std::chrono::duration<double, std::milli>(sink->heard[h] - s).count());
        ++h;
    }
}

double arg_value(int argc, char** argv, const char* name, double fallback) {
    for (int i = 1; i + 1 < argc; ++i)
        if (std::strcmp(argv[i], name) == 0) return std::atof(argv[i + 1]);
    return fallback;
}

}  // namespace

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // figures appear as they are measured
    const double call_seconds = arg_value(argc, argv, "--call-seconds", 10);
    const int pairs = static_cast<int>(arg_value(argc, argv, "--pairs", 5));
    const double clock_seconds = arg_value(argc, argv, "--clock-seconds", 60);
    const double delay_seconds = arg_value(argc, argv, "--delay-seconds", 20);

    std::printf("load average at start: %s\n", load_average().c_str());
    std::printf(
        "== media: raw references, CPU time (20 ms frames, Opus 32 kbit/s, complexity 5, "
        "FEC)\n");
    const Reference ref = measure_references();
    const double frame_us = 20'000.0;
    std::printf("opus_encode_us_per_frame=%.1f  (%.2f %% of a core)\n", ref.opus_encode_us,
                100 * ref.opus_encode_us / frame_us);
    std::printf("opus_decode_us_per_frame=%.1f  (%.2f %% of a core)\n", ref.opus_decode_us,
                100 * ref.opus_decode_us / frame_us);
    std::printf("opus_bytes_per_frame=%zu\n", ref.opus_bytes);
    std::printf("srtp_protect_us_per_packet=%.2f  srtp_unprotect_us_per_packet=%.2f\n",
                ref.srtp_protect_us, ref.srtp_unprotect_us);
    const double raw_end =
        ref.opus_encode_us + ref.opus_decode_us + ref.srtp_protect_us + ref.srtp_unprotect_us;
    std::printf(
        "raw_sum_per_call_end=%.2f %% of a core  (encode + decode + protect + "
        "unprotect every 20 ms)\n",
        100 * raw_end / frame_us);

    std::printf("== media: %d full-duplex calls (%d MediaSessions), %.0f s\n", pairs, 2 * pairs,
                call_seconds);
    const CallResult calls = measure_calls(pairs, call_seconds);
    std::printf(
        "cpu_per_call_end=%.2f %% of a core  (MediaSession: Opus, SRTP both ways, "
        "jitter buffer, RTCP)\n",
        calls.cpu_percent_per_end);
    std::printf("cpu_per_call_both_ends=%.2f %% of a core\n", 2 * calls.cpu_percent_per_end);
    std::printf("session_overhead_over_raw=%.2f %% of a core per end\n",
                calls.cpu_percent_per_end - 100 * raw_end / frame_us);
    std::printf("packets_received=%llu frames_concealed=%llu\n",
                static_cast<unsigned long long>(calls.packets),
                static_cast<unsigned long long>(calls.concealed));

    std::printf("== media: send clock, one session, %.0f s\n", clock_seconds);
    const ClockResult clk = measure_clock(clock_seconds);
    std::printf("ticks=%zu ticks_skipped=%llu\n", clk.ticks,
                static_cast<unsigned long long>(clk.skipped));
    std::printf("tick_late_us p50=%.0f p99=%.0f p99.9=%.0f max=%.0f\n", clk.p50_us, clk.p99_us,
                clk.p999_us, clk.max_us);
    std::printf("drift_us=%.1f over the run (slope %.2f ppm)\n", clk.drift_us, clk.drift_ppm);

    std::printf(
        "== media: one-way added delay on 127.0.0.1 (Opus over SRTP, adaptive jitter buffer), "
        "4 tick phases x %.0f s\n",
        delay_seconds);
    DelayResult delay;
    for (int phase_ms : {0, 5, 10, 15})
        measure_delay_phase(std::chrono::milliseconds(phase_ms), delay_seconds, delay);
    if (delay.ms.empty()) {
        std::printf("one_way_delay: no burst was heard\n");
    } else {
        std::sort(delay.ms.begin(), delay.ms.end());
        auto dpct = [&](double q) {
            return delay
                .ms[std::min(delay.ms.size() - 1, static_cast<size_t>(q * (delay.ms.size() - 1)))];
        };
        std::printf("session_one_way_ms p50=%.1f p95=%.1f max=%.1f  (%zu bursts, %llu unmatched)\n",
                    dpct(0.5), dpct(0.95), delay.ms.back(), delay.ms.size(),
                    static_cast<unsigned long long>(delay.unmatched));
        std::printf("capture_to_playout_ms p50=%.1f p95=%.1f  (+20 ms frame fill; goal <= 60)\n",
                    dpct(0.5) + 20, dpct(0.95) + 20);
    }
    std::printf("load average at end: %s\n", load_average().c_str());
    return 0;
}
