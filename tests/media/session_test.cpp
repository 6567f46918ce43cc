#include "p2psip/media/session.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cstdio>
#include <filesystem>
#include <thread>
#include <vector>

#include "p2psip/media/error.hpp"
#include "p2psip/media/tone.hpp"

namespace p2psip::media {
namespace {

using namespace std::chrono_literals;

std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() /
            ("p2psip_session_" + std::to_string(::getpid()) + "_" + name))
        .string();
}

SrtpKeyMaterial new_key() {
    auto k = generate_key();
    EXPECT_TRUE(k);
    return k.value_or(SrtpKeyMaterial{});
}

// Runs `io` until `duration` has passed, then stops the sessions and drains the loop.
void run_for(asio::io_context& io, std::chrono::steady_clock::duration duration,
             std::initializer_list<MediaSession*> sessions) {
    asio::steady_timer stop_timer(io);
    stop_timer.expires_after(duration);
    stop_timer.async_wait([&](const std::error_code&) {
        for (auto* s : sessions) s->stop();
    });
    io.run();
    io.restart();
}

// A's sender feeds B and vice versa through the io_context, like a network would.
// `filter` may drop (return false) or modify a datagram on its way A -> B.
struct BackToBack {
    asio::io_context io;
    std::unique_ptr<MediaSession> a, b;
    std::function<bool(std::vector<uint8_t>&)> filter_ab;

    BackToBack(MediaConfig ca, MediaConfig cb) {
        a = std::make_unique<MediaSession>(io, std::move(ca), [this](std::span<const uint8_t> d) {
            std::vector<uint8_t> pkt(d.begin(), d.end());
            if (filter_ab && !filter_ab(pkt)) return;
            asio::post(io, [this, pkt] { b->on_packet(pkt); });
        });
        b = std::make_unique<MediaSession>(io, std::move(cb), [this](std::span<const uint8_t> d) {
            asio::post(
                io, [this, pkt = std::vector<uint8_t>(d.begin(), d.end())] { a->on_packet(pkt); });
        });
    }
};

void check_tone_call(const std::string& codec, int pt, bool srtp) {
    const std::string path = temp_path(codec + (srtp ? "_srtp" : "_rtp") + ".wav");
    std::error_code ec;
    std::shared_ptr<WavFileSink> recording = WavFileSink::open(path, ec);
    ASSERT_TRUE(recording) << ec.message();

    const auto key_ab = new_key(), key_ba = new_key();
    MediaConfig ca{.codec_name = codec, .payload_type = pt};
    MediaConfig cb{.codec_name = codec, .payload_type = pt};
    if (srtp) {
        ca.tx_key = cb.rx_key = key_ab;
        cb.tx_key = ca.rx_key = key_ba;
    }
    ca.source = std::make_shared<ToneSource>(440.0, 0.3);
    ca.sink = std::make_shared<NullSink>();
    cb.source = std::make_shared<NullSource>();
    cb.sink = recording;
    BackToBack call(std::move(ca), std::move(cb));
    ASSERT_FALSE(call.a->start());
    ASSERT_FALSE(call.b->start());
    run_for(call.io, 2s, {call.a.get(), call.b.get()});
    ASSERT_FALSE(recording->close());

    const auto sa = call.a->stats();
    const auto sb = call.b->stats();
    EXPECT_GE(sa.packets_sent, 90u);
    // The packet sent on the very last tick may still be in flight when both stop.
    EXPECT_GE(sb.packets_received + 1, sa.packets_sent);
    EXPECT_LE(sb.packets_received, sa.packets_sent);
    EXPECT_EQ(sb.packets_lost, 0u);
    EXPECT_EQ(sb.packets_late, 0u);
    EXPECT_EQ(sb.srtp_auth_failures, 0u);
    EXPECT_EQ(sb.packets_discarded, 0u);
    EXPECT_LE(sb.bytes_received, sa.bytes_sent);
    EXPECT_GT(sb.bytes_received, sa.bytes_sent * 9 / 10);
    EXPECT_GE(sb.frames_played, 80u);
    EXPECT_EQ(sb.frames_concealed, 0u);
    EXPECT_GE(sa.packets_received + 1, sb.packets_sent);  // the other direction works too
    EXPECT_GE(sb.jitter_ms, 0.0);

    ToneReport r;
    ASSERT_FALSE(analyze_wav(path, 440.0, r));
    std::printf("[   info   ] %s%s: peak %.1f Hz, SNR %.1f dB, %zu samples, jitter %.2f ms\n",
                codec.c_str(), srtp ? "/SRTP" : "/RTP", r.peak_hz, r.snr_db, r.samples,
                sb.jitter_ms);
    EXPECT_NEAR(r.peak_hz, 440.0, 5.0);
    EXPECT_GT(r.snr_db, 20.0);
    EXPECT_GT(r.samples, 48000u);  // more than a second of tone
    double gap = 0;
    ASSERT_FALSE(longest_silent_gap_wav(path, gap));
    EXPECT_LT(gap, 20.0);
    std::filesystem::remove(path);
}

}  // namespace

TEST(MediaSession, OpusOverSrtpCarriesTheTone) {
    check_tone_call("opus", 111, true);
}
TEST(MediaSession, PcmuOverPlainRtpCarriesTheTone) {
    check_tone_call("PCMU", 0, false);
}
TEST(MediaSession, PcmuOverSrtpCarriesTheTone) {
    check_tone_call("PCMU", 0, true);
}

TEST(MediaSession, PacingCountsFramesNotDrift) {
    asio::io_context io;
    uint64_t sent = 0;
    MediaSession s(io, MediaConfig{}, [&](std::span<const uint8_t>) { ++sent; });
    ASSERT_FALSE(s.start());
    run_for(io, 2s, {&s});
    // Absolute deadlines: ~2 s / 20 ms whatever the per-tick overhead.
    EXPECT_GE(sent, 98u);
    EXPECT_LE(sent, 102u);
    EXPECT_EQ(s.stats().packets_sent, sent);
    EXPECT_EQ(s.stats().ticks, sent);
    EXPECT_EQ(s.stats().ticks_skipped, 0u);
}

// Blocks the io_context thread for `stall` half a second into a 2 s run.
MediaStats run_with_stall(std::chrono::milliseconds stall) {
    asio::io_context io;
    MediaSession s(io, MediaConfig{}, [](std::span<const uint8_t>) {});
    EXPECT_FALSE(s.start());
    asio::steady_timer blocker(io);
    blocker.expires_after(500ms);
    blocker.async_wait([stall](const std::error_code&) { std::this_thread::sleep_for(stall); });
    run_for(io, 2s, {&s});
    return s.stats();
}

TEST(MediaSession, ShortStallIsCaughtUp) {
    // 100 ms late: the missed ticks run back to back, so no frame is lost.
    const auto st = run_with_stall(100ms);
    EXPECT_EQ(st.ticks_skipped, 0u);
    EXPECT_GE(st.packets_sent, 98u);
    EXPECT_LE(st.packets_sent, 102u);
}

TEST(MediaSession, LongStallSkipsAhead) {
    // 600 ms late: the frames are skipped instead of bursting 30 packets out at once.
    const auto st = run_with_stall(600ms);
    EXPECT_GE(st.ticks_skipped, 25u);
    EXPECT_LE(st.ticks_skipped, 31u);
    EXPECT_GE(st.packets_sent + st.ticks_skipped, 98u);
    EXPECT_LE(st.packets_sent + st.ticks_skipped, 102u);
}

TEST(MediaSession, PacketsCarryRtpFields) {
    asio::io_context io;
    std::vector<std::vector<uint8_t>> sent;
    MediaConfig cfg{.codec_name = "PCMU", .payload_type = 0};
    MediaSession s(io, cfg,
                   [&](std::span<const uint8_t> d) { sent.emplace_back(d.begin(), d.end()); });
    ASSERT_FALSE(s.start());
    run_for(io, 210ms, {&s});
    ASSERT_GE(sent.size(), 5u);
    RtpHeader first, prev;
    ASSERT_FALSE(parse_rtp(sent[0], first));
    EXPECT_TRUE(first.marker);
    EXPECT_EQ(first.payload_type, 0);
    EXPECT_EQ(first.ssrc, s.local_ssrc());
    EXPECT_EQ(first.payload.size(), 160u);
    prev = first;
    for (size_t i = 1; i < sent.size(); ++i) {
        RtpHeader h;
        ASSERT_FALSE(parse_rtp(sent[i], h));
        EXPECT_FALSE(h.marker);
        EXPECT_EQ(h.sequence, static_cast<uint16_t>(prev.sequence + 1));
        EXPECT_EQ(h.timestamp, prev.timestamp + 160u);
        EXPECT_EQ(h.ssrc, first.ssrc);
        prev = h;
    }
}

TEST(MediaSession, WireIsEncrypted) {
    // Two senders with identical input; only one uses SRTP.
    asio::io_context io;
    const auto key = new_key();
    std::vector<uint8_t> srtp_pkt, rtp_pkt;
    MediaConfig cs{.codec_name = "opus", .payload_type = 111, .tx_key = key};
    cs.source = std::make_shared<ToneSource>(440.0, 0.3);
    MediaConfig cp{.codec_name = "opus", .payload_type = 111};
    cp.source = std::make_shared<ToneSource>(440.0, 0.3);
    MediaSession secure(io, cs, [&](std::span<const uint8_t> d) {
        if (srtp_pkt.empty()) srtp_pkt.assign(d.begin(), d.end());
    });
    MediaSession plain(io, cp, [&](std::span<const uint8_t> d) {
        if (rtp_pkt.empty()) rtp_pkt.assign(d.begin(), d.end());
    });
    ASSERT_FALSE(secure.start());
    ASSERT_FALSE(plain.start());
    run_for(io, 100ms, {&secure, &plain});
    ASSERT_FALSE(srtp_pkt.empty());
    ASSERT_FALSE(rtp_pkt.empty());

    RtpHeader hs, hp;
    ASSERT_FALSE(parse_rtp(srtp_pkt, hs));
    ASSERT_FALSE(parse_rtp(rtp_pkt, hp));
    ASSERT_EQ(hs.payload.size(), hp.payload.size() + 10);  // + 80-bit auth tag
    EXPECT_FALSE(std::equal(hp.payload.begin(), hp.payload.end(), hs.payload.begin()));

    // The wrong key fails authentication; the right key yields exactly the plaintext payload.
    SrtpContext wrong, right;
    ASSERT_FALSE(SrtpContext::create(new_key(), SrtpDirection::inbound, wrong));
    ASSERT_FALSE(SrtpContext::create(key, SrtpDirection::inbound, right));
    std::vector<uint8_t> copy = srtp_pkt;
    size_t len = copy.size();
    EXPECT_EQ(wrong.unprotect(copy.data(), len), errc::srtp_auth_failed);
    len = srtp_pkt.size();
    ASSERT_FALSE(right.unprotect(srtp_pkt.data(), len));
    RtpHeader hd;
    ASSERT_FALSE(parse_rtp(std::span(srtp_pkt).first(len), hd));
    ASSERT_EQ(hd.payload.size(), hp.payload.size());
    EXPECT_TRUE(std::equal(hp.payload.begin(), hp.payload.end(), hd.payload.begin()));
}

TEST(MediaSession, LossTamperAndWrongKeyAreCounted) {
    const auto key = new_key();
    MediaConfig ca{.codec_name = "opus", .payload_type = 111, .tx_key = key};
    ca.source = std::make_shared<ToneSource>(440.0, 0.3);
    MediaConfig cb{.codec_name = "opus", .payload_type = 111, .rx_key = key};
    BackToBack call(std::move(ca), std::move(cb));
    int n = 0, dropped = 0, tampered = 0;
    call.filter_ab = [&](std::vector<uint8_t>& pkt) {
        ++n;
        if (n > 90) return true;  // a clean tail so the last drop is measurable
        if (n % 20 == 5) {
            ++dropped;
            return false;
        }
        if (n % 20 == 15) {
            ++tampered;
            pkt[pkt.size() / 2] ^= 0x40;
        }
        return true;
    };
    ASSERT_FALSE(call.a->start());
    ASSERT_FALSE(call.b->start());
    run_for(call.io, 2s, {call.a.get(), call.b.get()});
    const auto sb = call.b->stats();
    EXPECT_GT(dropped, 3);
    EXPECT_EQ(sb.srtp_auth_failures, static_cast<uint64_t>(tampered));
    // Tampered packets never reach the RTP layer, so they count as lost too (RFC 3550 A.3).
    EXPECT_EQ(sb.packets_lost, static_cast<uint64_t>(dropped + tampered));
    const uint64_t delivered = call.a->stats().packets_sent - dropped - tampered;
    EXPECT_LE(sb.packets_received, delivered);
    EXPECT_GE(sb.packets_received + 1, delivered);  // one may be in flight at the end
    EXPECT_GE(sb.frames_concealed, static_cast<uint64_t>(dropped + tampered));
}

TEST(MediaSession, IgnoresJunkAndForeignPayloadTypes) {
    asio::io_context io;
    MediaConfig cfg{.codec_name = "PCMU", .payload_type = 0};
    MediaSession s(io, cfg, nullptr);
    ASSERT_FALSE(s.start());
    const std::vector<uint8_t> junk = {1, 2, 3};
    s.on_packet(junk);
    std::array<uint8_t, 172> pkt{};
    RtpHeader h;
    h.payload_type = 8;  // PCMA, not negotiated
    size_t n = 0;
    ASSERT_FALSE(write_rtp(h, std::span<const uint8_t>(pkt.data() + 12, 160), pkt, n));
    s.on_packet(std::span(pkt).first(n));
    const std::array<uint8_t, 8> rtcp = {0x80, 201, 0, 1, 0, 0, 0, 1};
    s.on_packet(rtcp);
    const auto st = s.stats();
    EXPECT_EQ(st.packets_discarded, 2u);
    EXPECT_EQ(st.packets_received, 0u);
    EXPECT_EQ(st.rtcp_received, 1u);
    s.stop();
    s.on_packet(rtcp);  // ignored when stopped
    EXPECT_EQ(s.stats().rtcp_received, 1u);
}

TEST(MediaSession, StartValidatesConfig) {
    asio::io_context io;
    EXPECT_EQ(MediaSession(io, MediaConfig{.codec_name = "G729"}, nullptr).start(),
              errc::unsupported_codec);
    EXPECT_EQ(
        MediaSession(io, MediaConfig{.codec_name = "PCMU", .payload_type = 0, .clock_rate = 48000},
                     nullptr)
            .start(),
        errc::invalid_argument);
    EXPECT_EQ(MediaSession(io, MediaConfig{.payload_type = 128}, nullptr).start(),
              errc::invalid_argument);
    SrtpKeyMaterial bad = new_key();
    bad.suite = "AEAD_AES_256_GCM";
    EXPECT_EQ(MediaSession(io, MediaConfig{.tx_key = bad}, nullptr).start(),
              errc::unsupported_suite);
    MediaSession ok(io, MediaConfig{.clock_rate = 48000}, nullptr);
    EXPECT_FALSE(ok.start());
    EXPECT_EQ(ok.start(), errc::already_started);
    ok.stop();
    EXPECT_FALSE(ok.start());  // restartable
    ok.stop();
}

TEST(MediaSession, DestroyWhileTimerPendingIsSafe) {
    asio::io_context io;
    {
        MediaSession s(io, MediaConfig{}, nullptr);
        ASSERT_FALSE(s.start());
        io.run_for(50ms);
    }
    io.restart();
    io.run_for(50ms);  // any leftover handler must not touch the dead session
    SUCCEED();
}

}  // namespace p2psip::media
