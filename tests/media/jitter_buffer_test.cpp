#include "p2psip/media/jitter_buffer.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <optional>
#include <vector>

// GCC flags malloc/free inside a replaced operator new/delete once they are inlined.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

// Counts global allocations so the test can show push()/pop() never allocate.
namespace {
std::atomic<size_t> g_allocations{0};
}
void* operator new(std::size_t n) {
    ++g_allocations;
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
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
