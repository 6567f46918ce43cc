#include "p2psip/media/rtp_relay.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <new>
#include <vector>

#include "p2psip/media/error.hpp"
#include "p2psip/media/session.hpp"
#include "p2psip/media/tone.hpp"

#include "alloc_counter.hpp"  // counts allocations (one TU per test program)

namespace p2psip::media {
namespace {

using namespace std::chrono_literals;
using Bytes = std::vector<uint8_t>;
using Side = RtpRelay::Side;

SrtpKeyMaterial new_key(std::string_view suite) {
    auto k = generate_key(suite);
    EXPECT_TRUE(k) << suite;
    return k.value_or(SrtpKeyMaterial{});
}

// Keeps everything written to it (test only: allocates as it grows).
class VectorSink final : public AudioSink {
  public:
    void write(std::span<const int16_t> frame) override {
        pcm.insert(pcm.end(), frame.begin(), frame.end());
    }
    std::vector<int16_t> pcm;
};

// Keys of one leg: "up" from the endpoint to the relay, "down" from the relay to the endpoint.
struct LegKeys {
    std::optional<SrtpKeyMaterial> up, down;
};
LegKeys sdes_keys() {
    return {new_key(kSuiteAesCm128Sha1_80), new_key(kSuiteAesCm128Sha1_80)};
}
LegKeys gcm_keys() {
    return {new_key(kSuiteAeadAes128Gcm), new_key(kSuiteAeadAes128Gcm)};
}

MediaConfig endpoint(const std::string& codec, int pt, const LegKeys& keys, double tone_hz,
                     std::shared_ptr<VectorSink> sink) {
    MediaConfig c{.codec_name = codec, .payload_type = pt, .tx_key = keys.up, .rx_key = keys.down};
    c.source = std::make_shared<ToneSource>(tone_hz, 0.3);
    c.sink = std::move(sink);
    return c;
}

// Endpoint A <-> relay leg A | relay | leg B <-> endpoint B, all on one io_context. By default
// each hop is a posted copy, like a network; `sync` hands datagrams over synchronously
// (no allocation in the test harness, for the allocation check).
struct Relayed {
    asio::io_context io;
    std::unique_ptr<MediaSession> a, b;
    std::unique_ptr<RtpRelay> relay;
    bool sync = false;
    bool count_allocations = false;  // sync only
    uint64_t a_sent = 0;
    // Taps (may modify or drop: return false) on the four hops.
    std::function<bool(Bytes&)> from_a, from_b;                // endpoint -> relay
    std::function<void(std::span<const uint8_t>)> to_a, to_b;  // relay -> endpoint
    uint64_t rtcp_socket_a = 0;  // datagrams on leg A's separate RTCP flow

    Relayed(MediaConfig ca, MediaConfig cb, const LegKeys& ka, const LegKeys& kb, RelayCodecMap map,
            bool separate_rtcp_a = false) {
        RelayLegConfig la{.rx_key = ka.up, .tx_key = ka.down};
        RelayLegConfig lb{.rx_key = kb.up, .tx_key = kb.down};
        la.send_rtp = [this](std::span<const uint8_t> d) {
            if (to_a) to_a(d);
            deliver(d, [this](std::span<const uint8_t> p) { a->on_packet(p); });
        };
        if (separate_rtcp_a) {
            la.send_rtcp = [this](std::span<const uint8_t> d) {
                ++rtcp_socket_a;
                deliver(d, [this](std::span<const uint8_t> p) { a->on_packet(p); });
            };
        }
        lb.send_rtp = [this](std::span<const uint8_t> d) {
            if (to_b) to_b(d);
            deliver(d, [this](std::span<const uint8_t> p) { b->on_packet(p); });
        };
        relay = std::make_unique<RtpRelay>(std::move(la), std::move(lb), std::move(map));
        a = std::make_unique<MediaSession>(io, std::move(ca), [this](std::span<const uint8_t> d) {
            from_endpoint(d, from_a, Side::a);
        });
        b = std::make_unique<MediaSession>(io, std::move(cb), [this](std::span<const uint8_t> d) {
            from_endpoint(d, from_b, Side::b);
        });
    }

    template <typename F>
    void deliver(std::span<const uint8_t> d, F f) {
        if (sync) {
            f(d);
            return;
        }
        asio::post(io, [f, pkt = Bytes(d.begin(), d.end())] { f(pkt); });
    }
    void from_endpoint(std::span<const uint8_t> d, const std::function<bool(Bytes&)>& tap,
                       Side side) {
        if (sync) {
            // Counts allocations from A's 50th to its 150th datagram: two seconds of steady
            // state. (Counting from timers would see asio's handler cache reshuffle.)
            if (count_allocations && side == Side::a) {
                if (++a_sent == 50) g_counting = true;
                if (a_sent == 150) g_counting = false;
            }
            relay->on_packet(side, d);
            return;
        }
        Bytes pkt(d.begin(), d.end());
        if (tap && !tap(pkt)) return;
        asio::post(io, [this, side, pkt] { relay->on_packet(side, pkt); });
    }

    void run(std::chrono::steady_clock::duration d) {
        ASSERT_FALSE(relay->start());
        ASSERT_FALSE(a->start());
        ASSERT_FALSE(b->start());
        asio::steady_timer stop(io);
        stop.expires_after(d);
        stop.async_wait([this](const std::error_code&) {
            a->stop();
            b->stop();
        });
        io.run();
        io.restart();
    }
};

void expect_tone(const std::vector<int16_t>& pcm, double hz, const char* what) {
    ASSERT_GT(pcm.size(), static_cast<size_t>(kSampleRate)) << what;
    const auto sound = trim_silence(pcm);
    ASSERT_GT(sound.size(), static_cast<size_t>(kSampleRate)) << what;
    const ToneReport r = analyze_tone(sound, kSampleRate, hz);
    std::printf("[   info   ] %s: peak %.1f Hz, SNR %.1f dB, rms %.3f\n", what, r.peak_hz, r.snr_db,
                r.rms);
    EXPECT_NEAR(r.peak_hz, hz, 5.0) << what;
    EXPECT_GT(r.snr_db, 15.0) << what;
    EXPECT_GT(r.rms, 0.1) << what;
}

// Decrypts (if keyed) a copy of an RTP datagram; false if it is not RTP or fails.
bool plain_rtp(SrtpContext* ctx, std::span<const uint8_t> d, Bytes& out) {
    if (!looks_like_rtp(d)) return false;
    out.assign(d.begin(), d.end());
    size_t len = out.size();
    if (ctx && ctx->unprotect(out.data(), len)) return false;
    out.resize(len);
    return true;
}

TEST(RtpRelay, SameCodecRewritesOnlyThePayloadType) {
    // Leg A: SDES AES_CM_128_HMAC_SHA1_80, opus PT 111; leg B: AEAD_AES_128_GCM, opus PT 96.
    const LegKeys ka = sdes_keys(), kb = gcm_keys();
    auto heard_a = std::make_shared<VectorSink>(), heard_b = std::make_shared<VectorSink>();
    Relayed r(endpoint("opus", 111, ka, 440, heard_a), endpoint("opus", 96, kb, 620, heard_b), ka,
              kb, RelayCodecMap{{{111, 96, "opus", "opus/48000/2"}}});

    // The test's own view of the wire: A's packets before the relay, the relay's on leg B.
    SrtpContext see_a_up, see_b_down;
    ASSERT_FALSE(SrtpContext::create(*ka.up, SrtpDirection::inbound, see_a_up));
    ASSERT_FALSE(SrtpContext::create(*kb.down, SrtpDirection::inbound, see_b_down));
    std::map<uint16_t, Bytes> sent_by_a;
    std::vector<Bytes> relayed_to_b;
    r.from_a = [&](Bytes& d) {
        Bytes p;
        RtpHeader h;
        if (plain_rtp(&see_a_up, d, p) && !parse_rtp(p, h)) sent_by_a[h.sequence] = p;
        return true;
    };
    r.to_b = [&](std::span<const uint8_t> d) {
        Bytes p;
        if (plain_rtp(&see_b_down, d, p)) relayed_to_b.push_back(std::move(p));
    };
    r.run(2s);

    const auto& st = r.relay->stats();
    EXPECT_GE(st.forwarded_a_to_b, 80u);
    EXPECT_GE(st.forwarded_b_to_a, 80u);
    EXPECT_EQ(st.transcoded, 0u);
    EXPECT_EQ(st.dropped_auth, 0u);
    EXPECT_EQ(st.dropped_malformed, 0u);
    EXPECT_EQ(st.dropped_unmapped, 0u);
    EXPECT_EQ(st.dropped_replay, 0u);

    // Byte for byte the same packet but for the PT bits.
    ASSERT_GE(relayed_to_b.size(), 80u);
    size_t compared = 0;
    for (const Bytes& out : relayed_to_b) {
        RtpHeader ho;
        ASSERT_FALSE(parse_rtp(out, ho));
        const auto it = sent_by_a.find(ho.sequence);
        ASSERT_NE(it, sent_by_a.end());
        RtpHeader hi;
        ASSERT_FALSE(parse_rtp(it->second, hi));
        EXPECT_EQ(hi.payload_type, 111);
        EXPECT_EQ(ho.payload_type, 96);
        EXPECT_EQ(ho.ssrc, hi.ssrc);
        EXPECT_EQ(ho.ssrc, r.a->local_ssrc());
        EXPECT_EQ(ho.timestamp, hi.timestamp);
        EXPECT_EQ(ho.marker, hi.marker);
        ASSERT_EQ(out.size(), it->second.size());
        Bytes expected = it->second;
        expected[1] = static_cast<uint8_t>((expected[1] & 0x80) | 96);
        EXPECT_EQ(out, expected);
        ++compared;
    }
    EXPECT_GE(compared, 80u);

    const auto sa = r.a->stats(), sb = r.b->stats();
    EXPECT_EQ(sb.packets_discarded, 0u);
    EXPECT_EQ(sb.srtp_auth_failures, 0u);
    EXPECT_EQ(sb.packets_lost, 0u);
    EXPECT_EQ(sa.packets_discarded, 0u);
    EXPECT_EQ(sa.srtp_auth_failures, 0u);
    expect_tone(heard_b->pcm, 440, "A -> B (opus 111 -> 96)");
    expect_tone(heard_a->pcm, 620, "B -> A (opus 96 -> 111)");
}

TEST(RtpRelay, PlainRtpOnOneLegSrtpOnTheOther) {
    // Leg A: a LAN phone without SRTP, PCMA 8; leg B: AEAD_AES_128_GCM, PCMA 8.
    const LegKeys ka{}, kb = gcm_keys();
    auto heard_a = std::make_shared<VectorSink>(), heard_b = std::make_shared<VectorSink>();
    Relayed r(endpoint("PCMA", 8, ka, 440, heard_a), endpoint("PCMA", 8, kb, 620, heard_b), ka, kb,
              RelayCodecMap{{{8, 8, "PCMA", "PCMA"}}});
    Bytes first_to_a, first_to_b;
    r.to_a = [&](std::span<const uint8_t> d) {
        if (first_to_a.empty() && looks_like_rtp(d)) first_to_a.assign(d.begin(), d.end());
    };
    r.to_b = [&](std::span<const uint8_t> d) {
        if (first_to_b.empty() && looks_like_rtp(d)) first_to_b.assign(d.begin(), d.end());
    };
    r.run(2s);

    // Leg A carries plain 160-byte G.711 payloads; leg B the same plus the 16-byte GCM tag.
    RtpHeader ha, hb;
    ASSERT_FALSE(parse_rtp(first_to_a, ha));
    ASSERT_FALSE(parse_rtp(first_to_b, hb));
    EXPECT_EQ(ha.payload.size(), 160u);
    EXPECT_EQ(hb.payload.size(), 160u + 16u);

    const auto& st = r.relay->stats();
    EXPECT_GE(st.forwarded_a_to_b, 80u);
    EXPECT_GE(st.forwarded_b_to_a, 80u);
    EXPECT_EQ(st.dropped_auth + st.dropped_malformed + st.dropped_unmapped, 0u);
    EXPECT_EQ(r.b->stats().srtp_auth_failures, 0u);
    EXPECT_EQ(r.b->stats().packets_lost, 0u);
    EXPECT_EQ(r.a->stats().packets_lost, 0u);
    expect_tone(heard_b->pcm, 440, "plain A -> SRTP B");
    expect_tone(heard_a->pcm, 620, "SRTP B -> plain A");
}

TEST(RtpRelay, TranscodesPcmuToOpusAndBack) {
    // Leg A: SDES AES_CM_128_HMAC_SHA1_80, PCMU 0 (8 kHz); leg B: GCM, opus 111 (48 kHz).
    const LegKeys ka = sdes_keys(), kb = gcm_keys();
    auto heard_a = std::make_shared<VectorSink>(), heard_b = std::make_shared<VectorSink>();
    Relayed r(endpoint("PCMU", 0, ka, 440, heard_a), endpoint("opus", 111, kb, 620, heard_b), ka,
              kb, RelayCodecMap{{{0, 111, "PCMU", "opus"}}});
    SrtpContext see_b_down, see_a_down;
    ASSERT_FALSE(SrtpContext::create(*kb.down, SrtpDirection::inbound, see_b_down));
    ASSERT_FALSE(SrtpContext::create(*ka.down, SrtpDirection::inbound, see_a_down));
    std::vector<RtpHeader> to_b, to_a;
    std::vector<Bytes> keep;  // to_b/to_a headers view these
    keep.reserve(1000);
    auto collect = [&](SrtpContext& ctx, std::vector<RtpHeader>& out, std::span<const uint8_t> d) {
        Bytes p;
        RtpHeader h;
        if (!plain_rtp(&ctx, d, p) || keep.size() == keep.capacity()) return;
        keep.push_back(std::move(p));
        if (!parse_rtp(keep.back(), h)) out.push_back(h);
    };
    r.to_b = [&](std::span<const uint8_t> d) { collect(see_b_down, to_b, d); };
    r.to_a = [&](std::span<const uint8_t> d) { collect(see_a_down, to_a, d); };
    r.run(2s);

    const auto& st = r.relay->stats();
    EXPECT_GE(st.transcoded, 160u);
    EXPECT_GE(st.forwarded_a_to_b, 80u);
    EXPECT_GE(st.forwarded_b_to_a, 80u);
    EXPECT_EQ(st.dropped_auth + st.dropped_malformed + st.dropped_unmapped, 0u);

    // Leg B sees opus at 48 kHz: PT 111, SSRC and sequence numbers end to end, timestamps
    // rescaled 160 -> 960 per frame.
    ASSERT_GE(to_b.size(), 80u);
    EXPECT_TRUE(to_b.front().marker);
    for (size_t i = 0; i < to_b.size(); ++i) {
        SCOPED_TRACE(i);
        EXPECT_EQ(to_b[i].payload_type, 111);
        EXPECT_EQ(to_b[i].ssrc, r.a->local_ssrc());
        EXPECT_NE(to_b[i].payload.size(), 160u);  // not G.711 any more
        if (i == 0) continue;
        EXPECT_FALSE(to_b[i].marker);
        EXPECT_EQ(to_b[i].sequence, static_cast<uint16_t>(to_b[i - 1].sequence + 1));
        EXPECT_EQ(to_b[i].timestamp, to_b[i - 1].timestamp + 960u);
    }
    // Leg A sees PCMU: 160-byte payloads, 160 per frame.
    ASSERT_GE(to_a.size(), 80u);
    for (size_t i = 1; i < to_a.size(); ++i) {
        SCOPED_TRACE(i);
        EXPECT_EQ(to_a[i].payload_type, 0);
        EXPECT_EQ(to_a[i].payload.size(), 160u);
        EXPECT_EQ(to_a[i].ssrc, r.b->local_ssrc());
        EXPECT_EQ(to_a[i].timestamp, to_a[i - 1].timestamp + 160u);
    }

    const auto sa = r.a->stats(), sb = r.b->stats();
    EXPECT_EQ(sb.packets_lost, 0u);
    EXPECT_EQ(sb.packets_discarded, 0u);
    EXPECT_EQ(sa.packets_lost, 0u);
    EXPECT_EQ(sa.packets_discarded, 0u);
    expect_tone(heard_b->pcm, 440, "PCMU A -> opus B");
    expect_tone(heard_a->pcm, 620, "opus B -> PCMU A");
}

TEST(RtpRelay, TamperedJunkAndUnmappedAreDropped) {
    const LegKeys ka = sdes_keys(), kb = gcm_keys();
    auto heard_b = std::make_shared<VectorSink>();
    MediaConfig ca = endpoint("opus", 111, ka, 440, nullptr);
    MediaConfig cb = endpoint("opus", 96, kb, 620, heard_b);
    ca.rtcp_interval_ms = cb.rtcp_interval_ms = 0;  // RTP only, so the counts are exact
    Relayed r(std::move(ca), std::move(cb), ka, kb, RelayCodecMap{{{111, 96, "opus", "opus"}}});
    int n = 0, tampered = 0;
    r.from_a = [&](Bytes& d) {
        if (++n % 10 == 3 && n < 80) {
            d[d.size() / 2] ^= 0x20;
            ++tampered;
        }
        return true;
    };
    // Junk and a replay straight into the relay.
    asio::steady_timer inject(r.io);
    Bytes replay;
    r.from_b = [&](Bytes& d) {
        if (replay.empty()) replay = d;
        return true;
    };
    inject.expires_after(500ms);
    inject.async_wait([&](const std::error_code&) {
        const Bytes junk = {1, 2, 3};
        r.relay->on_packet(Side::a, junk);
        r.relay->on_packet(Side::b, Bytes(3000, 0x80));  // oversize
        r.relay->on_packet(Side::b, replay);             // SRTP replay
    });
    r.run(2s);

    const auto& st = r.relay->stats();
    EXPECT_GE(tampered, 7);
    EXPECT_EQ(st.dropped_auth, static_cast<uint64_t>(tampered));
    EXPECT_EQ(st.dropped_malformed, 2u);
    EXPECT_EQ(st.dropped_replay, 1u);
    EXPECT_EQ(st.dropped_unmapped, 0u);
    // The far end sees the dropped packets as losses (sequence numbers pass through) and no
    // authentication failure: the relay re-protected only what it verified.
    const auto sb = r.b->stats();
    EXPECT_EQ(sb.srtp_auth_failures, 0u);
    EXPECT_EQ(sb.packets_lost, static_cast<uint64_t>(tampered));
    expect_tone(heard_b->pcm, 440, "A -> B past tampering");

    // Unmapped payload types, on a plain leg.
    RtpRelay plain(RelayLegConfig{.send_rtp = [](std::span<const uint8_t>) {}},
                   RelayLegConfig{.send_rtp = [](std::span<const uint8_t>) {}},
                   RelayCodecMap{{{0, 0, "PCMU", "PCMU"}}});
    std::array<uint8_t, 172> pkt{};
    RtpHeader h;
    h.payload_type = 8;
    size_t len = 0;
    ASSERT_FALSE(write_rtp(h, std::span<const uint8_t>(pkt.data() + 12, 160), pkt, len));
    plain.on_packet(Side::a, std::span(pkt).first(len));  // before start(): ignored
    EXPECT_EQ(plain.stats().dropped_unmapped, 0u);
    ASSERT_FALSE(plain.start());
    EXPECT_EQ(plain.start(), errc::already_started);
    plain.on_packet(Side::a, std::span(pkt).first(len));
    plain.on_packet(Side::b, std::span(pkt).first(len));
    EXPECT_EQ(plain.stats().dropped_unmapped, 2u);
    pkt[1] = 0;  // PT 0: mapped
    plain.on_packet(Side::b, std::span(pkt).first(len));
    EXPECT_EQ(plain.stats().forwarded_b_to_a, 1u);
}

TEST(RtpRelay, RtcpIsForwardedEndToEnd) {
    // Leg A without rtcp-mux: RTCP towards A goes out on its own flow.
    const LegKeys ka = sdes_keys(), kb = gcm_keys();
    MediaConfig ca = endpoint("PCMU", 0, ka, 440, nullptr);
    MediaConfig cb = endpoint("opus", 111, kb, 620, nullptr);
    ca.rtcp_interval_ms = cb.rtcp_interval_ms = 200;
    Relayed r(std::move(ca), std::move(cb), ka, kb, RelayCodecMap{{{0, 111, "PCMU", "opus"}}},
              /*separate_rtcp_a=*/true);
    uint64_t rtcp_on_rtp_a = 0, rtcp_to_b = 0;
    r.to_a = [&](std::span<const uint8_t> d) {
        if (looks_like_rtcp(d)) ++rtcp_on_rtp_a;
    };
    r.to_b = [&](std::span<const uint8_t> d) {
        if (looks_like_rtcp(d)) ++rtcp_to_b;
    };
    r.run(3s);

    const auto& st = r.relay->stats();
    const auto sa = r.a->stats(), sb = r.b->stats();
    std::printf("[   info   ] rtcp forwarded %llu, A rtt %.2f ms, B rtt %.2f ms\n",
                static_cast<unsigned long long>(st.rtcp_forwarded), sa.rtt_ms.value_or(-1),
                sb.rtt_ms.value_or(-1));
    EXPECT_EQ(st.dropped_auth + st.dropped_malformed + st.dropped_replay, 0u);
    EXPECT_EQ(rtcp_on_rtp_a, 0u);
    EXPECT_GE(r.rtcp_socket_a, 2u);
    EXPECT_GE(rtcp_to_b, 2u);
    EXPECT_EQ(st.rtcp_forwarded, r.rtcp_socket_a + rtcp_to_b);
    // Each end got the other's reports through the relay (SRTCP re-keyed per leg) ...
    EXPECT_GE(sa.rtcp_received, 2u);
    EXPECT_GE(sb.rtcp_received, 2u);
    EXPECT_EQ(sa.srtp_auth_failures + sb.srtp_auth_failures, 0u);
    // ... and, SSRCs being end to end, the report blocks describe its own stream.
    EXPECT_GE(sa.remote_reports, 1u);
    EXPECT_GE(sb.remote_reports, 1u);
    EXPECT_TRUE(sa.rtt_ms);
    EXPECT_TRUE(sb.rtt_ms);
    EXPECT_EQ(sa.remote_cumulative_lost, 0);
}

TEST(RtpRelay, TelephoneEventsArePayloadTypeMapped) {
    const LegKeys ka = sdes_keys(), kb = gcm_keys();
    MediaConfig ca = endpoint("opus", 111, ka, 440, nullptr);
    MediaConfig cb = endpoint("opus", 96, kb, 620, nullptr);
    ca.dtmf_payload_type = 101;
    cb.dtmf_payload_type = 110;
    std::string heard;
    cb.on_dtmf = [&](char d) { heard += d; };
    Relayed r(std::move(ca), std::move(cb), ka, kb,
              RelayCodecMap{{{111, 96, "opus", "opus"},
                             {101, 110, "telephone-event", "telephone-event/48000"}}});
    asio::steady_timer dial(r.io);
    dial.expires_after(200ms);
    dial.async_wait([&](const std::error_code&) {
        for (char d : std::string("42#")) EXPECT_FALSE(r.a->send_dtmf(d, 80ms));
    });
    r.run(1500ms);
    EXPECT_EQ(heard, "42#");
    EXPECT_EQ(r.relay->stats().dropped_unmapped, 0u);
    EXPECT_EQ(r.b->stats().packets_discarded, 0u);
    EXPECT_EQ(r.b->stats().packets_lost, 0u);

    // Different clocks (8 kHz G.711 side, 48 kHz Opus side): not rescaled, dropped as unmapped.
    const LegKeys none{};
    MediaConfig cc = endpoint("PCMU", 0, none, 440, nullptr);
    MediaConfig cd = endpoint("opus", 111, none, 620, nullptr);
    cc.dtmf_payload_type = 101;
    cd.dtmf_payload_type = 101;
    std::string heard2;
    cd.on_dtmf = [&](char d) { heard2 += d; };
    Relayed r2(std::move(cc), std::move(cd), none, none,
               RelayCodecMap{
                   {{0, 111, "PCMU", "opus"}, {101, 101, "telephone-event", "telephone-event"}}});
    asio::steady_timer dial2(r2.io);
    dial2.expires_after(200ms);
    dial2.async_wait([&](const std::error_code&) { EXPECT_FALSE(r2.a->send_dtmf('7', 80ms)); });
    r2.run(800ms);
    EXPECT_EQ(heard2, "");
    EXPECT_GE(r2.relay->stats().dropped_unmapped, 4u);  // 2 frames + 2 repeated end packets
}

TEST(RtpRelay, StartValidates) {
    auto start = [](RelayCodecMap map, RelayLegConfig a = {}, RelayLegConfig b = {}) {
        return RtpRelay(std::move(a), std::move(b), std::move(map)).start();
    };
    EXPECT_FALSE(start({}));
    EXPECT_FALSE(start({{{0, 111, "pcmu/8000", "opus/48000/2"}, {8, 8, "PCMA", "PCMA"}}}));
    EXPECT_EQ(start({{{18, 18, "G729", "G729"}}}), errc::unsupported_codec);
    EXPECT_EQ(start({{{0, 111, "PCMU", "G722"}}}), errc::unsupported_codec);
    EXPECT_EQ(start({{{101, 101, "telephone-event/x", "telephone-event"}}}),
              errc::unsupported_codec);
    EXPECT_EQ(start({{{0, 128, "PCMU", "PCMU"}}}), errc::invalid_argument);
    EXPECT_EQ(start({{{-1, 0, "PCMU", "PCMU"}}}), errc::invalid_argument);
    EXPECT_EQ(start({{{72, 0, "PCMU", "PCMU"}}}), errc::invalid_argument);  // RFC 5761 §4
    EXPECT_EQ(start({{{0, 0, "PCMU", "PCMU"}, {0, 8, "PCMU", "PCMA"}}}), errc::invalid_argument);
    EXPECT_EQ(start({{{101, 101, "telephone-event", "opus"}}}), errc::invalid_argument);
    SrtpKeyMaterial bad = new_key(kSuiteAesCm128Sha1_80);
    bad.suite = "AEAD_AES_256_GCM";
    EXPECT_EQ(start({{{0, 0, "PCMU", "PCMU"}}}, RelayLegConfig{.rx_key = bad}),
              errc::unsupported_suite);
    EXPECT_EQ(start({{{0, 0, "PCMU", "PCMU"}}}, {}, RelayLegConfig{.tx_key = bad}),
              errc::unsupported_suite);
}

TEST(RtpRelay, SteadyStateDoesNotAllocate) {
    // The heaviest path: SRTP on both legs, PCMU <-> Opus transcoding, RTCP; synchronous
    // hand-over so the harness allocates nothing per packet either.
    const LegKeys ka = sdes_keys(), kb = gcm_keys();
    MediaConfig ca = endpoint("PCMU", 0, ka, 440, nullptr);
    MediaConfig cb = endpoint("opus", 111, kb, 620, nullptr);
    ca.sink = std::make_shared<NullSink>();
    cb.sink = std::make_shared<NullSink>();
    ca.rtcp_interval_ms = cb.rtcp_interval_ms = 100;
    Relayed r(std::move(ca), std::move(cb), ka, kb, RelayCodecMap{{{0, 111, "PCMU", "opus"}}});
    r.sync = true;
    r.count_allocations = true;
    g_allocations = 0;
    r.run(3500ms);
    g_counting = false;
    EXPECT_GE(r.a_sent, 150u);
    const auto& st = r.relay->stats();
    EXPECT_GE(st.transcoded, 300u);
    EXPECT_GE(st.rtcp_forwarded, 4u);
    EXPECT_GE(r.b->stats().packets_received, 150u);
    EXPECT_EQ(g_allocations.load(), 0u);
}

}  // namespace
}  // namespace p2psip::media
