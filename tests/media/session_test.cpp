#include "p2psip/media/session.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/post.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <new>
#include <thread>
#include <vector>

#include "p2psip/media/error.hpp"
#include "p2psip/media/tone.hpp"

#include "alloc_counter.hpp"  // counts allocations (one TU per test program)

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
TEST(MediaSession, PcmaOverSrtpCarriesTheTone) {
    check_tone_call("PCMA", 8, true);
}

TEST(MediaSession, PacingCountsFramesNotDrift) {
    asio::io_context io;
    uint64_t sent = 0;
    MediaSession s(io, MediaConfig{}, [&](std::span<const uint8_t> d) {
        if (looks_like_rtp(d)) ++sent;
    });
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
    MediaSession s(io, cfg, [&](std::span<const uint8_t> d) {
        if (looks_like_rtp(d)) sent.emplace_back(d.begin(), d.end());
    });
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
    // Only RTP on the wire: an RTCP report among the counted packets (sent at a random
    // time) would shift which packet is dropped or tampered and make the counts flaky.
    ca.rtcp_interval_ms = 0;
    cb.rtcp_interval_ms = 0;
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
    // Each gap is concealed, or skipped by the adaptive buffer while it shrinks its delay.
    EXPECT_GE(sb.frames_concealed + sb.frames_dropped, static_cast<uint64_t>(dropped + tampered));
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

TEST(MediaSession, RtcpReportsLossJitterAndRoundTrip) {
    // Both directions over SRTP with a short report interval; A -> B loses every 10th of its
    // first 50 RTP packets, then runs clean so the final reports are exact.
    const auto key_ab = new_key(), key_ba = new_key();
    MediaConfig ca{.codec_name = "opus", .payload_type = 111, .tx_key = key_ab, .rx_key = key_ba};
    MediaConfig cb{.codec_name = "opus", .payload_type = 111, .tx_key = key_ba, .rx_key = key_ab};
    ca.rtcp_interval_ms = cb.rtcp_interval_ms = 200;
    ca.cname = "alice";
    ca.source = std::make_shared<ToneSource>(440.0, 0.3);
    BackToBack call(std::move(ca), std::move(cb));
    int rtp = 0, dropped = 0;
    call.filter_ab = [&](std::vector<uint8_t>& pkt) {
        if (!looks_like_rtp(pkt)) return true;
        if (++rtp <= 50 && rtp % 10 == 5) {
            ++dropped;
            return false;
        }
        return true;
    };
    // Samples A's view of the peer's reports every 20 ms.
    double max_fraction = 0;
    asio::steady_timer sampler(call.io);
    std::function<void()> sample = [&] {
        max_fraction = std::max(max_fraction, call.a->stats().remote_fraction_lost);
        sampler.expires_after(20ms);
        sampler.async_wait([&](const std::error_code& ec) {
            if (!ec && call.a->running()) sample();
        });
    };
    ASSERT_FALSE(call.a->start());
    ASSERT_FALSE(call.b->start());
    sample();
    // A says BYE first; B keeps running long enough to receive it.
    asio::steady_timer stop_a(call.io), stop_b(call.io);
    stop_a.expires_after(4000ms);
    stop_a.async_wait([&](const std::error_code&) { call.a->stop(); });
    stop_b.expires_after(4200ms);
    stop_b.async_wait([&](const std::error_code&) { call.b->stop(); });
    call.io.run();

    const auto sa = call.a->stats();
    const auto sb = call.b->stats();
    std::printf(
        "[   info   ] A: rtcp sent %llu recv %llu, rtt %.3f ms, peer sees lost %lld "
        "jitter %.3f ms, max fraction %.3f\n",
        static_cast<unsigned long long>(sa.rtcp_sent),
        static_cast<unsigned long long>(sa.rtcp_received), sa.rtt_ms.value_or(-1),
        static_cast<long long>(sa.remote_cumulative_lost), sa.remote_jitter_ms, max_fraction);
    EXPECT_EQ(dropped, 5);
    // RFC 3550 §6.3: with 5 % of ~2 x 4 kB/s for RTCP the bandwidth term (~0.6 s) exceeds the
    // 200 ms Tmin, so a report every ~0.5 s on average (randomised 0.5..1.5, / 1.218).
    EXPECT_GE(sa.rtcp_sent, 5u);
    EXPECT_LE(sa.rtcp_sent, 20u);
    EXPECT_GE(sb.rtcp_sent, 4u);
    EXPECT_EQ(sb.rtcp_received, sa.rtcp_sent);  // every report, the BYE included, got through
    EXPECT_EQ(sb.srtp_auth_failures, 0u);
    EXPECT_EQ(sa.srtp_auth_failures, 0u);
    EXPECT_TRUE(sb.remote_bye);
    EXPECT_FALSE(sa.remote_bye);  // B stopped after A: its BYE found A gone
    EXPECT_EQ(sb.packets_lost, 5u);

    // A learns B's view of its stream.
    EXPECT_GE(sa.remote_reports, 3u);
    EXPECT_EQ(sa.remote_cumulative_lost, 5);
    EXPECT_GT(max_fraction, 0.0);             // some interval saw the loss ...
    EXPECT_LE(max_fraction, 0.5);             // ... at a plausible rate
    EXPECT_EQ(sa.remote_fraction_lost, 0.0);  // the last interval was clean
    EXPECT_GE(sa.remote_jitter_ms, 0.0);
    EXPECT_LT(sa.remote_jitter_ms, 100.0);
    EXPECT_GT(sa.remote_packets_sent, 0u);  // from B's latest SR
    EXPECT_LE(sa.remote_packets_sent, sb.packets_sent);
    // Round trip through the io_context: present, small and non-negative.
    ASSERT_TRUE(sa.rtt_ms);
    EXPECT_GE(*sa.rtt_ms, 0.0);
    EXPECT_LT(*sa.rtt_ms, 1000.0);
    ASSERT_TRUE(sb.rtt_ms);
    EXPECT_EQ(sb.remote_cumulative_lost, 0);
}

TEST(MediaSession, RtcpIsSrtcpAndTamperingIsCounted) {
    const auto key = new_key();
    MediaConfig ca{.codec_name = "PCMU", .payload_type = 0, .tx_key = key};
    ca.rtcp_interval_ms = 100;
    ca.cname = "secret-cname";
    MediaConfig cb{.codec_name = "PCMU", .payload_type = 0, .rx_key = key};
    BackToBack call(std::move(ca), std::move(cb));
    std::vector<uint8_t> first_rtcp;
    int rtcp = 0, tampered = 0;
    call.filter_ab = [&](std::vector<uint8_t>& pkt) {
        if (!looks_like_rtcp(pkt)) return true;
        if (first_rtcp.empty()) first_rtcp = pkt;
        if (++rtcp % 2 == 0) {
            pkt[pkt.size() - 1] ^= 1;  // the auth tag
            ++tampered;
        }
        return true;
    };
    ASSERT_FALSE(call.a->start());
    ASSERT_FALSE(call.b->start());
    run_for(call.io, 3s, {call.a.get(), call.b.get()});
    const auto sb = call.b->stats();
    EXPECT_GE(tampered, 3);
    // The last report (or BYE) may still be in flight when B stops.
    const auto delivered = sb.rtcp_received + sb.srtp_auth_failures;
    EXPECT_LE(delivered, static_cast<uint64_t>(rtcp));
    EXPECT_GE(delivered + 1, static_cast<uint64_t>(rtcp));
    EXPECT_LE(sb.srtp_auth_failures, static_cast<uint64_t>(tampered));
    EXPECT_GE(sb.srtp_auth_failures + 1, static_cast<uint64_t>(tampered));
    EXPECT_GE(sb.rtcp_received, 2u);

    // On the wire: the CNAME is encrypted, and the packet is SRTCP (RFC 3711 §3.4: E flag set).
    ASSERT_FALSE(first_rtcp.empty());
    const std::string wire(first_rtcp.begin(), first_rtcp.end());
    EXPECT_EQ(wire.find("secret-cname"), std::string::npos);
    SrtpContext rx;
    ASSERT_FALSE(SrtpContext::create(key, SrtpDirection::inbound, rx));
    size_t len = first_rtcp.size();
    ASSERT_FALSE(rx.unprotect_rtcp(first_rtcp.data(), len));
    RtcpCompound c;
    ASSERT_FALSE(parse_rtcp(std::span(first_rtcp).first(len), c));
    EXPECT_EQ(c.cname, "secret-cname");
    EXPECT_TRUE(c.has_report);
    EXPECT_TRUE(c.report.sender_report);
    EXPECT_EQ(c.report.ssrc, call.a->local_ssrc());
}

TEST(MediaSession, RtcpCanBeDisabled) {
    asio::io_context io;
    int rtcp = 0;
    MediaConfig cfg;
    cfg.rtcp_interval_ms = 0;
    MediaSession s(io, cfg, [&](std::span<const uint8_t> d) {
        if (looks_like_rtcp(d)) ++rtcp;
    });
    ASSERT_FALSE(s.start());
    run_for(io, 500ms, {&s});
    EXPECT_EQ(rtcp, 0);  // not even a BYE
    EXPECT_EQ(s.stats().rtcp_sent, 0u);
}

TEST(MediaSession, SteadyStateDoesNotAllocate) {
    // Full duplex, SRTP, Opus, frequent RTCP; datagrams are handed over synchronously so the
    // test itself allocates nothing per packet.
    asio::io_context io;
    const auto key_ab = new_key(), key_ba = new_key();
    MediaConfig ca{.codec_name = "opus", .payload_type = 111, .tx_key = key_ab, .rx_key = key_ba};
    MediaConfig cb{.codec_name = "opus", .payload_type = 111, .tx_key = key_ba, .rx_key = key_ab};
    ca.rtcp_interval_ms = cb.rtcp_interval_ms = 100;
    ca.source = std::make_shared<ToneSource>(440.0, 0.3);
    cb.source = std::make_shared<ToneSource>(620.0, 0.3);
    ca.sink = std::make_shared<NullSink>();
    cb.sink = std::make_shared<NullSink>();
    MediaSession* pa = nullptr;
    MediaSession* pb = nullptr;
    uint64_t a_sent = 0;
    MediaSession a(io, ca, [&](std::span<const uint8_t> d) {
        // Counts from A's 50th to its 150th datagram: two seconds of steady state.
        if (++a_sent == 50) g_counting = true;
        if (a_sent == 150) g_counting = false;
        pb->on_packet(d);
    });
    MediaSession b(io, cb, [&](std::span<const uint8_t> d) { pa->on_packet(d); });
    pa = &a;
    pb = &b;
    ASSERT_FALSE(a.start());
    ASSERT_FALSE(b.start());
    g_allocations = 0;
    run_for(io, 3500ms, {&a, &b});
    g_counting = false;
    const auto sa = a.stats(), sb = b.stats();
    EXPECT_GE(a_sent, 150u);
    EXPECT_GE(sb.packets_received, 140u);
    EXPECT_GE(sa.rtcp_received, 4u);
    EXPECT_EQ(g_allocations.load(), 0u);
}

TEST(MediaSession, DtmfDigitsArriveInOrderOnce) {
    const auto key_ab = new_key(), key_ba = new_key();
    MediaConfig ca{.codec_name = "opus", .payload_type = 111, .tx_key = key_ab, .rx_key = key_ba};
    MediaConfig cb{.codec_name = "opus", .payload_type = 111, .tx_key = key_ba, .rx_key = key_ab};
    ca.dtmf_payload_type = cb.dtmf_payload_type = 101;
    ca.source = std::make_shared<ToneSource>(440.0, 0.3);
    std::string heard;
    cb.on_dtmf = [&](char d) { heard += d; };
    BackToBack call(std::move(ca), std::move(cb));
    // The network loses the first packet of every event (the one with the marker bit): the
    // updates still carry the event, and each digit is reported exactly once.
    int firsts_dropped = 0;
    call.filter_ab = [&](std::vector<uint8_t>& pkt) {
        if (pkt.size() > 1 && (pkt[1] & 0x7f) == 101 && (pkt[1] & 0x80)) {
            ++firsts_dropped;
            return false;
        }
        return true;
    };
    ASSERT_FALSE(call.a->start());
    ASSERT_FALSE(call.b->start());
    asio::steady_timer dial(call.io);
    dial.expires_after(200ms);
    dial.async_wait([&](const std::error_code&) {
        for (char d : std::string("123#*0")) EXPECT_FALSE(call.a->send_dtmf(d, 80ms)) << d;
        EXPECT_EQ(call.a->dtmf_pending(), 6u);
    });
    // 6 digits x (4 + 2 + 2) ticks = ~1 s.
    run_for(call.io, 2s, {call.a.get(), call.b.get()});
    EXPECT_EQ(heard, "123#*0");
    EXPECT_EQ(firsts_dropped, 6);
    EXPECT_EQ(call.a->stats().dtmf_sent, 6u);
    EXPECT_EQ(call.a->dtmf_pending(), 0u);
    const auto sb = call.b->stats();
    EXPECT_EQ(sb.dtmf_received, 6u);
    EXPECT_EQ(sb.packets_lost, 6u);  // telephone-events share the audio's sequence space
    EXPECT_EQ(sb.packets_discarded, 0u);
    EXPECT_EQ(sb.packets_late, 0u);
}

TEST(MediaSession, DtmfPacketsFollowRfc4733) {
    asio::io_context io;
    MediaConfig cfg{.codec_name = "opus", .payload_type = 111};
    cfg.dtmf_payload_type = 101;
    std::vector<RtpHeader> rtp;
    std::vector<TelephoneEvent> events;  // parallel to rtp, for PT 101
    std::vector<std::vector<uint8_t>> keep;
    MediaSession s(io, cfg, [&](std::span<const uint8_t> d) {
        if (!looks_like_rtp(d)) return;
        keep.emplace_back(d.begin(), d.end());
        RtpHeader h;
        ASSERT_FALSE(parse_rtp(keep.back(), h));
        rtp.push_back(h);
        TelephoneEvent e;
        if (h.payload_type == 101) {
            ASSERT_FALSE(parse_telephone_event(h.payload, e));
        }
        events.push_back(e);
    });
    ASSERT_FALSE(s.start());
    asio::steady_timer dial(io);
    dial.expires_after(100ms);
    dial.async_wait([&](const std::error_code&) { EXPECT_FALSE(s.send_dtmf('#', 100ms)); });
    run_for(io, 600ms, {&s});

    const auto first = std::find_if(rtp.begin(), rtp.end(),
                                    [](const RtpHeader& h) { return h.payload_type == 101; });
    ASSERT_NE(first, rtp.end());
    const auto i0 = static_cast<size_t>(first - rtp.begin());
    ASSERT_GT(i0, 0u);
    ASSERT_GE(rtp.size(), i0 + 8);
    // 100 ms = 5 frames: 5 packets with growing duration, then the end packet twice more.
    const uint32_t event_ts = rtp[i0].timestamp;
    EXPECT_EQ(event_ts, rtp[i0 - 1].timestamp + 960);  // on the media clock, in the audio's place
    for (size_t k = 0; k < 7; ++k) {
        const RtpHeader& h = rtp[i0 + k];
        const TelephoneEvent& e = events[i0 + k];
        SCOPED_TRACE(k);
        EXPECT_EQ(h.payload_type, 101);
        EXPECT_EQ(h.marker, k == 0);
        EXPECT_EQ(h.timestamp, event_ts);
        EXPECT_EQ(h.sequence, static_cast<uint16_t>(rtp[i0 - 1].sequence + 1 + k));
        EXPECT_EQ(h.payload.size(), 4u);
        EXPECT_EQ(e.event, 11);
        EXPECT_EQ(e.volume, 10);
        EXPECT_EQ(e.duration, std::min<size_t>(k + 1, 5) * 960);
        EXPECT_EQ(e.end, k >= 4);
    }
    // Audio resumes with the next sequence number and the timestamp of its own tick.
    const RtpHeader& after = rtp[i0 + 7];
    EXPECT_EQ(after.payload_type, 111);
    EXPECT_EQ(after.sequence, static_cast<uint16_t>(rtp[i0 + 6].sequence + 1));
    EXPECT_EQ(after.timestamp, event_ts + 7 * 960);
    EXPECT_EQ(std::count_if(rtp.begin(), rtp.end(),
                            [](const RtpHeader& h) { return h.payload_type == 101; }),
              7);
}

TEST(MediaSession, DtmfErrors) {
    asio::io_context io;
    MediaSession none(io, MediaConfig{}, nullptr);
    EXPECT_EQ(none.send_dtmf('1'), errc::not_running);
    ASSERT_FALSE(none.start());
    EXPECT_EQ(none.send_dtmf('1'), errc::dtmf_not_negotiated);
    none.stop();

    MediaConfig cfg;
    cfg.dtmf_payload_type = 101;
    MediaSession s(io, cfg, nullptr);
    ASSERT_FALSE(s.start());
    EXPECT_EQ(s.send_dtmf('x'), errc::invalid_argument);
    for (int i = 0; i < 16; ++i) EXPECT_FALSE(s.send_dtmf('0' + i % 10)) << i;
    EXPECT_EQ(s.send_dtmf('1'), errc::queue_full);
    s.stop();

    cfg.dtmf_payload_type = cfg.payload_type;  // must differ from the audio's
    EXPECT_EQ(MediaSession(io, cfg, nullptr).start(), errc::invalid_argument);
}

// Keeps everything written to it (test only: allocates as it grows).
class VectorSink final : public AudioSink {
  public:
    void write(std::span<const int16_t> frame) override {
        pcm.insert(pcm.end(), frame.begin(), frame.end());
    }
    std::vector<int16_t> pcm;
};

// An impaired network between two sessions on the same io_context: every datagram, in both
// directions, is dropped with 10 % probability and otherwise delayed by 0..40 ms (uniform), so
// packets also get reordered. Decisions come from seeded generators, one per direction, and
// depend only on the datagram's index, not on timing.
struct ImpairedLink {
    asio::io_context io;
    std::unique_ptr<MediaSession> a, b;
    uint64_t rng_ab = 0x243F6A8885A308D3ull, rng_ba = 0x13198A2E03707344ull;
    int dropped_ab = 0, delivered_ab = 0;

    static uint32_t next(uint64_t& s) {  // xorshift64*
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return static_cast<uint32_t>((s * 0x2545F4914F6CDD1Dull) >> 32);
    }
    // Returns whether the datagram was sent on (not dropped).
    bool relay(std::span<const uint8_t> d, uint64_t& rng, MediaSession* const* to) {
        if (next(rng) % 100 < 10) return false;
        const auto delay = std::chrono::microseconds(next(rng) % 40'001);
        auto timer = std::make_shared<asio::steady_timer>(io, delay);
        timer->async_wait(
            [timer, to, pkt = std::vector<uint8_t>(d.begin(), d.end())](const std::error_code& ec) {
                if (!ec) (*to)->on_packet(pkt);
            });
        return true;
    }
    MediaSession* pa = nullptr;
    MediaSession* pb = nullptr;

    ImpairedLink(MediaConfig ca, MediaConfig cb) {
        a = std::make_unique<MediaSession>(io, std::move(ca), [this](std::span<const uint8_t> d) {
            if (relay(d, rng_ab, &pb)) {
                ++delivered_ab;
            } else {
                ++dropped_ab;
            }
        });
        b = std::make_unique<MediaSession>(
            io, std::move(cb), [this](std::span<const uint8_t> d) { relay(d, rng_ba, &pa); });
        pa = a.get();
        pb = b.get();
    }
};

TEST(MediaSession, ToneSurvivesLossAndJitter) {
    const auto key_ab = new_key(), key_ba = new_key();
    MediaConfig ca{.codec_name = "opus", .payload_type = 111, .tx_key = key_ab, .rx_key = key_ba};
    MediaConfig cb{.codec_name = "opus", .payload_type = 111, .tx_key = key_ba, .rx_key = key_ab};
    ca.rtcp_interval_ms = cb.rtcp_interval_ms = 500;
    ca.source = std::make_shared<ToneSource>(440.0, 0.3);
    ca.sink = std::make_shared<NullSink>();
    cb.source = std::make_shared<ToneSource>(620.0, 0.3);
    auto heard = std::make_shared<VectorSink>();
    cb.sink = heard;
    cb.jitter_delay_ms = 20;  // start too low: the buffer has to grow to cover the jitter
    ImpairedLink link(std::move(ca), std::move(cb));
    ASSERT_FALSE(link.a->start());
    ASSERT_FALSE(link.b->start());
    asio::steady_timer stop(link.io);
    stop.expires_after(6s);
    stop.async_wait([&](const std::error_code&) {
        link.a->stop();
        link.b->stop();
    });
    link.io.run();

    const auto sb = link.b->stats();
    const auto qb = link.b->quality_report();
    const auto sa = link.a->stats();
    std::printf(
        "[   info   ] A->B dropped %d of %d; B: lost %llu late %llu concealed %llu "
        "inserted %llu dropped %llu, target %.1f ms, mean delay %.1f ms, jitter %.1f ms, "
        "loss %.1f %%, one-way %.1f ms, MOS %.2f; A sees: lost %lld, rtt %.1f ms\n",
        link.dropped_ab, link.dropped_ab + link.delivered_ab,
        static_cast<unsigned long long>(sb.packets_lost),
        static_cast<unsigned long long>(sb.packets_late),
        static_cast<unsigned long long>(sb.frames_concealed),
        static_cast<unsigned long long>(sb.frames_inserted),
        static_cast<unsigned long long>(sb.frames_dropped), sb.jitter_target_ms,
        sb.mean_playout_delay_ms, sb.jitter_ms, qb.loss_percent, qb.one_way_delay_ms, qb.mos,
        static_cast<long long>(sa.remote_cumulative_lost), sa.rtt_ms.value_or(-1));

    // The impairment happened: ~10 % loss, with FEC/PLC filling in.
    const double loss_rate =
        static_cast<double>(link.dropped_ab) / (link.dropped_ab + link.delivered_ab);
    EXPECT_GT(loss_rate, 0.06);
    EXPECT_LT(loss_rate, 0.14);
    EXPECT_GT(sb.packets_lost, 15u);
    EXPECT_GT(sb.frames_concealed, 15u);
    // The adaptive buffer grew to cover the 0..40 ms of delay variation, so (almost) nothing
    // was too late.
    EXPECT_GE(sb.jitter_target_ms, 35.0);
    EXPECT_LE(sb.jitter_target_ms, 200.0);
    // It started at 20 ms; the delay it played at covers the jitter. (Whether it got there
    // by inserting frames or because a loaded machine's late first ticks already added the
    // delay depends on scheduling, so that is not asserted.)
    EXPECT_GE(sb.mean_playout_delay_ms, 30.0);
    EXPECT_LE(sb.packets_late, sb.packets_received / 30);
    EXPECT_GT(sb.jitter_ms, 2.0);  // RFC 3550 jitter of uniform 0..40 ms is ~9 ms

    // The listener still hears a clean 440 Hz tone without holes.
    ASSERT_GT(heard->pcm.size(), 4u * kSampleRate);
    const auto sound = trim_silence(heard->pcm);
    ASSERT_GT(sound.size(), 4u * kSampleRate);
    const ToneReport r = analyze_tone(sound, kSampleRate, 440.0);
    const double gap = longest_silent_gap_ms(heard->pcm, kSampleRate);
    std::printf("[   info   ] heard: peak %.1f Hz, SNR %.1f dB, rms %.3f, longest gap %.1f ms\n",
                r.peak_hz, r.snr_db, r.rms, gap);
    EXPECT_NEAR(r.peak_hz, 440.0, 5.0);
    EXPECT_GT(r.snr_db, 15.0);
    EXPECT_LT(gap, 60.0);
    EXPECT_GT(r.rms, 0.15);  // the tone is 0.3 peak: 0.21 RMS

    // RTCP crossed the same link: A knows B saw losses, and the quality report reflects them.
    EXPECT_GT(sa.remote_reports, 0u);
    EXPECT_GT(sa.remote_cumulative_lost, 0);
    ASSERT_TRUE(sa.rtt_ms);
    EXPECT_GT(*sa.rtt_ms, 0.0);
    EXPECT_LT(*sa.rtt_ms, 500.0);
    EXPECT_GT(qb.loss_percent, 5.0);
    EXPECT_LT(qb.loss_percent, 20.0);
    EXPECT_LT(qb.mos, estimate_mos(qb.one_way_delay_ms, 0, "opus"));
    EXPECT_GT(qb.mos, 2.5);
    EXPECT_GT(qb.one_way_delay_ms, sb.mean_playout_delay_ms);
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

// Hold (RFC 3264 §5.1/§8.4, RFC 6337): A stops sending for a second, then resumes.
TEST(MediaSession, HoldStopsSendingThenResumes) {
    const auto key_ab = new_key(), key_ba = new_key();
    MediaConfig ca{.codec_name = "opus", .payload_type = 111, .tx_key = key_ab, .rx_key = key_ba};
    MediaConfig cb{.codec_name = "opus", .payload_type = 111, .tx_key = key_ba, .rx_key = key_ab};
    ca.rtcp_interval_ms = cb.rtcp_interval_ms = 200;
    ca.source = std::make_shared<ToneSource>(440.0, 0.3);
    auto heard = std::make_shared<VectorSink>();
    cb.sink = heard;
    BackToBack call(std::move(ca), std::move(cb));
    std::vector<RtpHeader> rtp;  // A's RTP headers (in clear under SRTP)
    std::vector<std::vector<uint8_t>> keep;
    keep.reserve(400);
    call.filter_ab = [&](std::vector<uint8_t>& pkt) {
        RtpHeader h;
        if (looks_like_rtp(pkt) && keep.size() < keep.capacity()) {
            keep.push_back(pkt);
            if (!parse_rtp(keep.back(), h)) rtp.push_back(h);
        }
        return true;
    };
    EXPECT_TRUE(call.a->sending());
    EXPECT_TRUE(call.a->receiving());
    ASSERT_FALSE(call.a->start());
    ASSERT_FALSE(call.b->start());

    MediaStats a_hold{}, b_hold{}, a_end_hold{}, b_end_hold{};
    size_t rtp_at_hold = 0;
    asio::steady_timer hold(call.io), probe(call.io), resume(call.io);
    hold.expires_after(700ms);
    hold.async_wait([&](const std::error_code&) {
        call.a->set_direction(false, true);
        EXPECT_FALSE(call.a->sending());
        EXPECT_TRUE(call.a->receiving());
        a_hold = call.a->stats();
        rtp_at_hold = rtp.size();
    });
    probe.expires_after(760ms);  // the last packet before the hold has landed
    probe.async_wait([&](const std::error_code&) { b_hold = call.b->stats(); });
    resume.expires_after(1760ms);
    resume.async_wait([&](const std::error_code&) {
        a_end_hold = call.a->stats();
        b_end_hold = call.b->stats();
        call.a->set_direction(true, true);
    });
    run_for(call.io, 3s, {call.a.get(), call.b.get()});

    // Nothing was sent or received during the hold, but RTCP went on both ways.
    EXPECT_EQ(a_end_hold.packets_sent, a_hold.packets_sent);
    EXPECT_EQ(b_end_hold.packets_received, b_hold.packets_received);
    EXPECT_GT(b_hold.packets_received, 25u);
    EXPECT_GT(a_end_hold.rtcp_sent, a_hold.rtcp_sent);
    EXPECT_GT(b_end_hold.rtcp_received, b_hold.rtcp_received);

    // The stream resumed: sequence numbers contiguous, timestamp advanced by the elapsed time,
    // marker bit on the first packet after the pause.
    ASSERT_GT(rtp.size(), rtp_at_hold + 40);
    ASSERT_GT(rtp_at_hold, 0u);
    const RtpHeader& before = rtp[rtp_at_hold - 1];
    const RtpHeader& after = rtp[rtp_at_hold];
    EXPECT_EQ(after.sequence, static_cast<uint16_t>(before.sequence + 1));
    EXPECT_TRUE(after.marker);
    const uint32_t ts_gap = after.timestamp - before.timestamp;
    EXPECT_EQ(ts_gap % 960, 0u);
    EXPECT_NEAR(static_cast<double>(ts_gap), 48000.0 + 960.0, 10 * 960.0);  // ~1 s + a frame
    EXPECT_EQ(std::count_if(rtp.begin(), rtp.end(), [](const RtpHeader& h) { return h.marker; }),
              2);

    const auto sa = call.a->stats(), sb = call.b->stats();
    EXPECT_EQ(sb.packets_lost, 0u);  // the pause is not loss
    EXPECT_EQ(sb.packets_discarded, 0u);
    EXPECT_EQ(sb.packets_late, 0u);
    EXPECT_GE(sb.packets_received + 1, sa.packets_sent);
    EXPECT_LE(sb.packets_received, sa.packets_sent);
    EXPECT_LT(sa.packets_sent, 110u);  // ~2 s of audio in 3 s
    EXPECT_GT(sa.packets_sent, 85u);

    // The listener heard the tone, a silence of about the hold, then the tone again.
    const double gap = longest_silent_gap_ms(heard->pcm, kSampleRate);
    EXPECT_GT(gap, 700.0);
    EXPECT_LT(gap, 1400.0);
    const auto sound = trim_silence(heard->pcm);
    ASSERT_GT(sound.size(), static_cast<size_t>(kSampleRate));
    const ToneReport r = analyze_tone(sound.last(kSampleRate * 8 / 10), kSampleRate, 440.0);
    std::printf("[   info   ] after hold: peak %.1f Hz, SNR %.1f dB, gap %.0f ms\n", r.peak_hz,
                r.snr_db, gap);
    EXPECT_NEAR(r.peak_hz, 440.0, 5.0);
    EXPECT_GT(r.snr_db, 20.0);
}

// B stops receiving (a=sendonly from its side) for a second: A's packets are discarded, not
// counted as received or lost, and reception restarts cleanly.
TEST(MediaSession, NotReceivingDiscardsRtpButKeepsRtcp) {
    MediaConfig ca{.codec_name = "PCMU", .payload_type = 0};
    MediaConfig cb{.codec_name = "PCMU", .payload_type = 0};
    ca.rtcp_interval_ms = cb.rtcp_interval_ms = 200;
    ca.source = std::make_shared<ToneSource>(440.0, 0.3);
    auto heard = std::make_shared<VectorSink>();
    cb.sink = heard;
    BackToBack call(std::move(ca), std::move(cb));
    ASSERT_FALSE(call.a->start());
    ASSERT_FALSE(call.b->start());
    MediaStats b_hold{}, b_end_hold{};
    asio::steady_timer hold(call.io), resume(call.io);
    hold.expires_after(700ms);
    hold.async_wait([&](const std::error_code&) {
        call.b->set_direction(true, false);
        EXPECT_TRUE(call.b->sending());
        EXPECT_FALSE(call.b->receiving());
        b_hold = call.b->stats();
    });
    resume.expires_after(1700ms);
    resume.async_wait([&](const std::error_code&) {
        b_end_hold = call.b->stats();
        call.b->set_direction(true, true);
    });
    run_for(call.io, 3s, {call.a.get(), call.b.get()});

    EXPECT_EQ(b_end_hold.packets_received, b_hold.packets_received);
    EXPECT_GE(b_end_hold.packets_held, 45u);  // A kept sending
    EXPECT_LE(b_end_hold.packets_held, 55u);
    EXPECT_GT(b_end_hold.rtcp_received, b_hold.rtcp_received);
    EXPECT_EQ(b_end_hold.packets_lost, 0u);
    const auto sa = call.a->stats(), sb = call.b->stats();
    EXPECT_EQ(sb.packets_lost, 0u);  // neither the discarded packets nor the gap
    EXPECT_EQ(sb.packets_discarded, 0u);
    EXPECT_GE(sb.packets_received + sb.packets_held + 1, sa.packets_sent);
    EXPECT_LE(sb.packets_received + sb.packets_held, sa.packets_sent);
    EXPECT_GT(sb.packets_received, 60u);
    EXPECT_EQ(sb.packets_held, b_end_hold.packets_held);
    EXPECT_GE(sa.remote_reports, 2u);
    EXPECT_EQ(sa.remote_cumulative_lost, 0);

    const double gap = longest_silent_gap_ms(heard->pcm, kSampleRate);
    EXPECT_GT(gap, 700.0);
    const auto sound = trim_silence(heard->pcm);
    ASSERT_GT(sound.size(), static_cast<size_t>(kSampleRate));
    const ToneReport r = analyze_tone(sound.last(kSampleRate * 8 / 10), kSampleRate, 440.0);
    EXPECT_NEAR(r.peak_hz, 440.0, 5.0);
    EXPECT_GT(r.snr_db, 20.0);
}

}  // namespace p2psip::media
