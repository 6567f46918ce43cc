#include "p2psip/media/jitter_buffer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <optional>
#include <vector>

#include "../common/replace_new.hpp"

// Counts global allocations so the test can show push()/pop() never allocate.
namespace {
std::atomic<size_t> g_allocations{0};
}
void on_allocation() noexcept {
    ++g_allocations;
}

namespace p2psip::media {
namespace {

using Kind = JitterFrame::Kind;

std::array<uint8_t, 4> payload_for(uint16_t seq) {
    return {static_cast<uint8_t>(seq >> 8), static_cast<uint8_t>(seq), 0xab, 0xcd};
}

JitterPush push(JitterBuffer& jb, uint16_t seq) {
    const auto p = payload_for(seq);
    return jb.push(seq, seq * 960u, p);
}

// Pops through the priming delay and returns the first non-idle frame.
JitterFrame pop_playing(JitterBuffer& jb) {
    for (int i = 0; i < 10; ++i) {
        auto f = jb.pop();
        if (f.kind != Kind::idle) return f;
    }
    return {};
}

void expect_packet(const JitterFrame& f, uint16_t seq) {
    ASSERT_EQ(f.kind, Kind::packet) << "seq " << seq;
    EXPECT_EQ(f.sequence, seq);
    EXPECT_EQ(f.timestamp, seq * 960u);
    ASSERT_EQ(f.payload.size(), 4u);
    EXPECT_EQ(f.payload[0], static_cast<uint8_t>(seq >> 8));
    EXPECT_EQ(f.payload[1], static_cast<uint8_t>(seq));
}

}  // namespace

TEST(JitterBuffer, FixedDelayThenInOrder) {
    JitterBuffer jb;                       // 3 frames = 60 ms
    EXPECT_EQ(jb.pop().kind, Kind::idle);  // nothing yet
    EXPECT_EQ(push(jb, 100), JitterPush::accepted);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(jb.pop().kind, Kind::idle) << i;  // priming
        push(jb, static_cast<uint16_t>(101 + i));
    }
    EXPECT_FALSE(jb.playing());
    for (uint16_t s = 100; s < 104; ++s) expect_packet(jb.pop(), s);
    EXPECT_TRUE(jb.playing());
    EXPECT_EQ(jb.buffered(), 0u);
}

TEST(JitterBuffer, ReordersAndReportsMissing) {
    JitterBuffer jb;
    for (uint16_t s : {1, 3, 2, 6, 5}) EXPECT_EQ(push(jb, s), JitterPush::accepted);
    EXPECT_EQ(jb.buffered(), 5u);
    expect_packet(pop_playing(jb), 1);
    expect_packet(jb.pop(), 2);
    expect_packet(jb.pop(), 3);
    const auto missing = jb.pop();
    EXPECT_EQ(missing.kind, Kind::missing);
    EXPECT_EQ(missing.sequence, 4);
    ASSERT_EQ(missing.next_payload.size(), 4u);  // packet 5 is here: usable for FEC
    EXPECT_EQ(missing.next_payload[1], 5);
    expect_packet(jb.pop(), 5);
    expect_packet(jb.pop(), 6);
    const auto gap = jb.pop();
    EXPECT_EQ(gap.kind, Kind::missing);
    EXPECT_TRUE(gap.next_payload.empty());
}

TEST(JitterBuffer, DuplicateAndLate) {
    JitterBuffer jb;
    EXPECT_EQ(push(jb, 10), JitterPush::accepted);
    EXPECT_EQ(push(jb, 10), JitterPush::duplicate);
    EXPECT_EQ(push(jb, 11), JitterPush::accepted);
    EXPECT_EQ(push(jb, 11), JitterPush::duplicate);
    expect_packet(pop_playing(jb), 10);
    EXPECT_EQ(push(jb, 10), JitterPush::late);  // already played
    EXPECT_EQ(push(jb, 9), JitterPush::late);
    expect_packet(jb.pop(), 11);
    EXPECT_EQ(jb.pop().kind, Kind::missing);    // 12 never came
    EXPECT_EQ(push(jb, 12), JitterPush::late);  // its time has passed
    EXPECT_EQ(push(jb, 13), JitterPush::accepted);
    expect_packet(jb.pop(), 13);
}

TEST(JitterBuffer, EarlierPacketWhilePrimingMovesStart) {
    JitterBuffer jb;
    push(jb, 50);
    EXPECT_EQ(push(jb, 48), JitterPush::accepted);  // reordered start of stream
    push(jb, 49);
    expect_packet(pop_playing(jb), 48);
    expect_packet(jb.pop(), 49);
    expect_packet(jb.pop(), 50);
}

TEST(JitterBuffer, SequenceWrap) {
    JitterBuffer jb;
    std::vector<uint16_t> order = {65533, 65535, 65534, 1, 0, 2, 3};
    for (auto s : order) EXPECT_EQ(push(jb, s), JitterPush::accepted) << s;
    expect_packet(pop_playing(jb), 65533);
    for (uint16_t s : {65534, 65535, 0, 1, 2, 3}) expect_packet(jb.pop(), s);
    EXPECT_EQ(push(jb, 65535), JitterPush::late);
}

TEST(JitterBuffer, LongRunAcrossWrapWithLossAndReorder) {
    JitterBuffer jb;
    uint16_t next_push = 65000;
    uint16_t expected = 65000;
    size_t played = 0, missing = 0;
    std::optional<uint16_t> held;
    for (int tick = 0; tick < 2000; ++tick) {
        const uint16_t s = next_push++;
        if (s % 50 == 7) {
            // dropped
        } else if (s % 10 == 3) {
            held = s;  // arrives one tick late, after its successor
        } else {
            push(jb, s);
            if (held) push(jb, *held);
            held.reset();
        }
        const auto f = jb.pop();
        if (f.kind == Kind::idle) continue;
        ASSERT_EQ(f.sequence, expected);
        if (f.kind == Kind::packet) {
            expect_packet(f, expected);
            ++played;
        } else {
            EXPECT_EQ(expected % 50, 7);
            ++missing;
        }
        ++expected;
    }
    EXPECT_GT(played, 1900u);
    EXPECT_GT(missing, 30u);
}

TEST(JitterBuffer, FarAheadResyncsAndTooLarge) {
    JitterBuffer jb(JitterBufferConfig{.capacity = 16});
    EXPECT_EQ(jb.config().capacity, 16u);
    push(jb, 1);
    expect_packet(pop_playing(jb), 1);
    EXPECT_EQ(push(jb, 1000), JitterPush::resynced);
    expect_packet(pop_playing(jb), 1000);

    std::vector<uint8_t> big(jb.config().max_payload + 1);
    EXPECT_EQ(jb.push(1001, 0, big), JitterPush::too_large);
}

TEST(JitterBuffer, GoesIdleWhenTheSenderStops) {
    JitterBuffer jb(JitterBufferConfig{.idle_after_missing = 5});
    push(jb, 1);
    expect_packet(pop_playing(jb), 1);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(jb.pop().kind, Kind::missing) << i;
    EXPECT_EQ(jb.pop().kind, Kind::idle);
    EXPECT_FALSE(jb.playing());
    // A new talkspurt restarts with the priming delay.
    push(jb, 300);
    expect_packet(pop_playing(jb), 300);
}

// Opus DTX / VAD (RFC 3551 §4.1): during silence the sender sends nothing; the next packet
// has the next sequence number but a timestamp that jumped. Its audio must come after a
// silence of that length, not be dropped as late or played early.
TEST(JitterBuffer, SenderSilenceKeepsItsLength) {
    JitterBuffer jb(JitterBufferConfig{.target_delay_frames = 1, .timestamp_per_frame = 960});
    const std::array<uint8_t, 3> p{1, 2, 3};
    jb.push(10, 10 * 960u, p);
    ASSERT_EQ(pop_playing(jb).kind, Kind::packet);
    // The sender stops for 8 frames: nothing arrives, the buffer conceals.
    for (int i = 0; i < 8; ++i) EXPECT_EQ(jb.pop().kind, Kind::missing) << i;
    // Sequence 11 now, timestamp 8 frames on: a talkspurt, not a late packet.
    EXPECT_EQ(jb.push(11, 19 * 960u, p), JitterPush::resynced);
    EXPECT_EQ(jb.push(12, 20 * 960u, p), JitterPush::accepted);
    const auto f = pop_playing(jb);
    ASSERT_EQ(f.kind, Kind::packet);
    EXPECT_EQ(f.sequence, 11);
    EXPECT_EQ(jb.pop().sequence, 12);
    EXPECT_EQ(jb.stats().talkspurts, 1u);

    // A shorter silence whose packet is already buffered: it waits for its timestamp.
    jb.push(13, 24 * 960u, p);  // 3 frames of silence after 12 (ts 21, 22, 23)
    jb.push(14, 25 * 960u, p);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(jb.pop().kind, Kind::missing) << i;
    auto g = jb.pop();
    ASSERT_EQ(g.kind, Kind::packet);
    EXPECT_EQ(g.sequence, 13);
    EXPECT_EQ(jb.pop().sequence, 14);
    EXPECT_EQ(jb.stats().frames_silent, 3u);
}

// Telephone-events (RFC 4733) repeat their start timestamp in every packet of an event: the
// audio after them is not held back as if it were early.
TEST(JitterBuffer, RepeatedTimestampsDoNotHoldTheNextPacket) {
    JitterBuffer jb(JitterBufferConfig{.target_delay_frames = 1, .timestamp_per_frame = 960});
    const std::array<uint8_t, 3> p{1, 2, 3};
    jb.push(1, 1 * 960u, p);
    for (uint16_t s = 2; s <= 6; ++s) jb.push(s, 2 * 960u, {});  // one event, five packets
    jb.push(7, 7 * 960u, p);
    ASSERT_EQ(pop_playing(jb).sequence, 1);
    for (uint16_t s = 2; s <= 7; ++s) {
        const auto f = jb.pop();
        EXPECT_EQ(f.kind, Kind::packet) << s;
        EXPECT_EQ(f.sequence, s);
    }
    EXPECT_EQ(jb.stats().frames_silent, 0u);
}

TEST(JitterBuffer, NoAllocationPerPacket) {
    JitterBuffer jb;
    const size_t before = g_allocations.load();
    for (uint16_t s = 0; s < 5000; ++s) {
        push(jb, s);
        (void)jb.pop();
    }
    EXPECT_EQ(g_allocations.load(), before);
}

}  // namespace p2psip::media

namespace p2psip::media {
namespace {

// A deterministic network: packet i is sent at i * 20 ms and arrives delay_of(i) later; the
// buffer is popped every 20 ms at a fixed phase. Returns per-phase counts.
struct Simulation {
    JitterBuffer jb;
    std::vector<std::pair<int64_t, uint16_t>> in_flight;  // (arrival us, seq)
    uint16_t next_seq = 1000;
    int64_t sent = 0;  // packets sent so far
    int64_t tick = 0;
    size_t late = 0, packets = 0, missing = 0, inserted = 0;

    explicit Simulation(JitterBufferConfig c) : jb(c) {}

    template <typename DelayFn>
    void run(int64_t ticks, DelayFn delay_ms) {
        for (int64_t end = tick + ticks; tick < end; ++tick) {
            const int64_t now = tick * 20'000 + 7'000;
            // Send everything due by now.
            while (sent * 20'000 <= now) {
                in_flight.emplace_back(sent * 20'000 + delay_ms(sent) * 1000, next_seq++);
                ++sent;
            }
            std::sort(in_flight.begin(), in_flight.end());
            size_t n = 0;
            for (; n < in_flight.size() && in_flight[n].first <= now; ++n) {
                const auto [at, seq] = in_flight[n];
                const auto p = payload_for(seq);
                if (jb.push(seq, seq * 960u, p, at) == JitterPush::late) ++late;
            }
            in_flight.erase(in_flight.begin(), in_flight.begin() + static_cast<long>(n));
            const auto f = jb.pop(now);
            if (f.kind == Kind::packet) ++packets;
            if (f.kind == Kind::missing) ++missing;
            if (f.kind == Kind::inserted) ++inserted;
        }
    }
    void clear_counts() { late = packets = missing = inserted = 0; }
};

JitterBufferConfig adaptive_config() {
    return JitterBufferConfig{.capacity = 64,
                              .adaptive = true,
                              .min_delay_ms = 20,
                              .max_delay_ms = 300,
                              .timestamp_per_frame = 960};
}

// Deterministic pseudo-random delay in [0, max_ms], a different value per packet.
int64_t hashed_delay(int64_t i, int64_t max_ms) {
    uint64_t x = static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ull;
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    return static_cast<int64_t>(x % static_cast<uint64_t>(max_ms + 1));
}

}  // namespace

TEST(JitterBuffer, AdaptiveGrowsQuicklyWhenJitterRises) {
    Simulation sim(adaptive_config());
    sim.run(500, [](int64_t) { return 5; });  // 10 s of a calm path
    const auto calm = sim.jb.stats();
    EXPECT_LE(calm.target_ms, 35.0);
    EXPECT_EQ(sim.late, 0u);
    EXPECT_EQ(sim.missing, 0u);

    // Now 0..80 ms of delay variation: within the first second the target covers it.
    sim.clear_counts();
    sim.run(50, [](int64_t i) { return 5 + hashed_delay(i, 80); });
    const auto rising = sim.jb.stats();
    EXPECT_GE(rising.target_ms, 80.0);
    EXPECT_LE(rising.target_ms, 100.0);
    EXPECT_GT(rising.frames_inserted, calm.frames_inserted);
    EXPECT_LE(sim.late, 10u);  // only while it was growing
    const size_t late_rising = sim.late;

    // Settled: nothing arrives too late any more, and the delay sits at the target.
    sim.clear_counts();
    sim.run(1000, [](int64_t i) { return 5 + hashed_delay(i, 80); });
    const auto settled = sim.jb.stats();
    std::printf(
        "[   info   ] calm target %.1f; rising target %.1f late %zu; settled target %.1f "
        "delay %.1f mean %.1f peak %.1f late %zu missing %zu inserted %llu dropped %llu\n",
        calm.target_ms, rising.target_ms, late_rising, settled.target_ms, settled.delay_ms,
        settled.mean_delay_ms, settled.peak_jitter_ms, sim.late, sim.missing,
        static_cast<unsigned long long>(settled.frames_inserted),
        static_cast<unsigned long long>(settled.frames_dropped));
    EXPECT_LE(sim.late, 3u);
    EXPECT_LE(sim.missing, 3u);
    EXPECT_GE(settled.delay_ms, settled.target_ms - 1);
    EXPECT_LE(settled.delay_ms, settled.target_ms + 45);
    EXPECT_GT(settled.mean_delay_ms, 50.0);
    EXPECT_GT(settled.peak_jitter_ms, 70.0);
}

TEST(JitterBuffer, AdaptiveShrinksSlowlyWhenCalm) {
    Simulation sim(adaptive_config());
    sim.run(1000, [](int64_t i) { return hashed_delay(i, 100); });
    const auto jittery = sim.jb.stats();
    EXPECT_GE(jittery.target_ms, 100.0);

    sim.clear_counts();
    sim.run(50, [](int64_t) { return 0; });  // one calm second: barely any change
    const auto after_1s = sim.jb.stats();
    EXPECT_GE(after_1s.target_ms, 80.0);
    EXPECT_LE(after_1s.frames_dropped - jittery.frames_dropped, 2u);

    sim.run(1500, [](int64_t) { return 0; });  // 30 calm seconds: back to the minimum
    const auto calm = sim.jb.stats();
    std::printf(
        "[   info   ] jittery target %.1f dropped %llu; after 1 s %.1f; calm %.1f delay "
        "%.1f dropped %llu\n",
        jittery.target_ms, static_cast<unsigned long long>(jittery.frames_dropped),
        after_1s.target_ms, calm.target_ms, calm.delay_ms,
        static_cast<unsigned long long>(calm.frames_dropped));
    EXPECT_LE(calm.target_ms, 25.0);
    EXPECT_LE(calm.delay_ms, 50.0);
    // Each skip shrinks by 20 ms, never more than one per 500 ms.
    EXPECT_GE(calm.frames_dropped - jittery.frames_dropped, 3u);
    EXPECT_LE(calm.frames_dropped - jittery.frames_dropped, 1550u / 25u);
    EXPECT_EQ(sim.late, 0u);
    // A skipped frame moves the timestamp on too: no packet is then held as if early.
    EXPECT_EQ(calm.frames_silent, 0u);
}

// The sender's clock is not ours: 300 ppm fast or slow (a cheap sound card) is 90 ms per
// 5 minutes. The buffer follows it: its delay stays bounded, it neither underruns (late
// packets, concealment) nor grows without end, and it skips or inserts a frame now and then.
TEST(JitterBuffer, FollowsSenderClockDrift) {
    for (const double ppm : {300.0, -300.0}) {
        JitterBuffer jb(adaptive_config());
        const double period_us = 20'000.0 * (1.0 + ppm * 1e-6);  // sender's frame interval
        int64_t sent = 0;
        size_t late = 0, missing = 0, packets = 0;
        double max_delay = 0;
        for (int64_t tick = 0; tick < 15'000; ++tick) {  // 5 minutes of our clock
            const int64_t now = tick * 20'000 + 7'000;
            while (static_cast<double>(sent) * period_us + 3'000 <= static_cast<double>(now)) {
                const auto seq = static_cast<uint16_t>(1000 + sent);
                const auto at = static_cast<int64_t>(static_cast<double>(sent) * period_us) + 3'000;
                const auto p = payload_for(seq);
                if (jb.push(seq, static_cast<uint32_t>(sent) * 960u, p, at) == JitterPush::late)
                    ++late;
                ++sent;
            }
            const auto f = jb.pop(now);
            if (tick < 500) continue;  // the first 10 s settle from the initial delay
            if (f.kind == Kind::packet) ++packets;
            if (f.kind == Kind::missing) ++missing;
            max_delay = std::max(max_delay, jb.stats().delay_ms);
        }
        const auto st = jb.stats();
        std::printf("[   info   ] %+.0f ppm: delay max %.1f ms, inserted %llu, dropped %llu\n", ppm,
                    max_delay, static_cast<unsigned long long>(st.frames_inserted),
                    static_cast<unsigned long long>(st.frames_dropped));
        EXPECT_EQ(late, 0u) << ppm;
        EXPECT_EQ(missing, 0u) << ppm;
        EXPECT_GT(packets, 14'000u) << ppm;
        EXPECT_LT(max_delay, 80.0) << ppm;
        // ppm > 0 is a slow sender (longer frame interval): it starves the buffer, which must
        // insert frames. A fast one floods it: frames are dropped (about 4 over 5 minutes at
        // 300 ppm, besides the ~2 that bring the initial 60 ms down).
        if (ppm > 0) {
            EXPECT_GE(st.frames_inserted, 2u);
        } else {
            EXPECT_GE(st.frames_dropped, 4u);
        }
    }
}

TEST(JitterBuffer, AdaptiveIsBounded) {
    auto cfg = adaptive_config();
    cfg.max_delay_ms = 120;
    Simulation sim(cfg);
    sim.run(500, [](int64_t i) { return hashed_delay(i, 400); });
    const auto s = sim.jb.stats();
    EXPECT_LE(s.target_ms, 120.0);
    EXPECT_GE(s.target_ms, 110.0);
    EXPECT_LE(s.delay_ms, 120.0 + 45);
    EXPECT_GT(sim.late, 50u);  // the rest is too late, by design

    // The capacity caps the maximum too.
    JitterBuffer small(JitterBufferConfig{.capacity = 8, .adaptive = true, .max_delay_ms = 1000});
    EXPECT_LE(small.config().max_delay_ms, 6u * 20u);
}

TEST(JitterBuffer, FixedModeReportsDelayButDoesNotAdapt) {
    Simulation sim(JitterBufferConfig{.target_delay_frames = 3});
    sim.run(500, [](int64_t i) { return hashed_delay(i, 100); });
    const auto s = sim.jb.stats();
    EXPECT_EQ(s.target_ms, 60.0);
    EXPECT_EQ(s.frames_inserted, 0u);
    EXPECT_EQ(s.frames_dropped, 0u);
    EXPECT_EQ(sim.inserted, 0u);
    EXPECT_GT(sim.late, 50u);  // 60 ms cannot cover 100 ms of variation
    EXPECT_GT(s.mean_delay_ms, 40.0);
    EXPECT_LT(s.mean_delay_ms, 100.0);
}

TEST(JitterBuffer, AdaptiveNoAllocationPerPacket) {
    JitterBuffer jb(adaptive_config());
    const size_t before = g_allocations.load();
    for (uint16_t s = 0; s < 5000; ++s) {
        const auto p = payload_for(s);
        jb.push(s, s * 960u, p, int64_t{s} * 20'000 + hashed_delay(s, 60) * 1000);
        (void)jb.pop(int64_t{s} * 20'000 + 10'000);
    }
    EXPECT_EQ(g_allocations.load(), before);
    EXPECT_GT(jb.stats().frames_inserted, 0u);
}

}  // namespace p2psip::media
