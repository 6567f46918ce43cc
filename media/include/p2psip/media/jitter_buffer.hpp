#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace p2psip::media {

struct JitterBufferConfig {
    size_t capacity = 64;              // slots (packets); rounded up to a power of two, <= 32768
    size_t max_payload = 1500;         // largest payload stored; bigger ones are refused
    uint32_t target_delay_frames = 3;  // fixed playout delay in 20 ms frames (adaptive: initial)
    uint32_t idle_after_missing = 25;  // empty and missing this many frames in a row: go idle
    // Adaptive mode: the playout delay follows the measured delay variation, between
    // min_delay_ms and max_delay_ms (max is also capped by the capacity).
    bool adaptive = false;
    uint32_t min_delay_ms = 10;
    uint32_t max_delay_ms = 200;
    // RTP timestamp units per 20 ms frame (960 at 48 kHz); 0 = unknown: sequence numbers only.
    // With it a sender's silences (DTX, RFC 3551 §4.1: the timestamp jumps, the sequence
    // number does not) are played as silence of the right length instead of being skipped.
    uint32_t timestamp_per_frame = 0;
};

struct JitterStats {
    double delay_ms = 0;           // playout delay of the latest frame: its playout time minus the
                                   // earliest arrival the stream's timing allows (see below)
    double mean_delay_ms = 0;      // mean of delay_ms over the frames played from packets
    double target_ms = 0;          // current target delay (fixed mode: target_delay_frames * 20)
    double peak_jitter_ms = 0;     // decaying peak of the packets' delay beyond the fastest one
    uint64_t frames_inserted = 0;  // concealment frames played to grow the delay
    uint64_t frames_dropped = 0;   // frames skipped to shrink the delay
    uint64_t frames_silent = 0;    // frames the sender did not send (DTX gaps), concealed
    uint64_t talkspurts = 0;       // restarts on a packet after such a gap
};

enum class JitterPush {
    accepted,
    duplicate,  // this sequence number is already buffered
    late,       // its playout time has passed
    too_large,  // payload larger than max_payload
    resynced,   // too far ahead of the playout point: buffer flushed, restarted from this packet
};

struct JitterFrame {
    enum class Kind {
        idle,      // nothing to play yet (before the first packet, while priming, after a stop)
        packet,    // payload is the frame to decode
        missing,   // the frame never arrived, or the sender was silent (DTX): conceal
                   // (next_payload, if set, can carry FEC)
        inserted,  // adaptive growth: play one concealment frame; `sequence` is still to come
    };
    Kind kind = Kind::idle;
    uint16_t sequence = 0;
    uint32_t timestamp = 0;                 // only for Kind::packet
    std::span<const uint8_t> payload;       // Kind::packet
    std::span<const uint8_t> next_payload;  // Kind::missing: the successor's payload, if buffered
};

// Fixed-capacity jitter buffer for one 20 ms-packetised stream. Packets are ordered by RTP
// sequence number (16-bit wrap aware, RFC 3550 A.1); storage is allocated once in the
// constructor. Not thread-safe: push() and pop() run on the io_context thread.
//
// Timing: packet k of the stream (k counted from the first, by sequence number) can at best
// arrive at base + k * 20 ms, where base is the earliest arrival offset seen (it creeps up
// slowly so a sender clock that runs fast is followed). A packet's lateness beyond that is its
// delay variation; a frame's playout delay is its playout time minus base + k * 20 ms.
// Adaptive mode keeps the playout delay at peak variation + 10 ms (bounded): it inserts a
// concealment frame at once when the delay is below target and skips a frame (a missing one
// when it can) when it is 20 ms or more above, at most one every 500 ms. The peak follows a
// rise immediately and decays with a half-life of ~5 s.
class JitterBuffer {
  public:
    explicit JitterBuffer(JitterBufferConfig config = {});

    // With arrival/playout times in microseconds of any monotonic clock (steady_clock).
    JitterPush push(uint16_t sequence, uint32_t timestamp, std::span<const uint8_t> payload,
                    int64_t arrival_us);
    // One call per 20 ms playout tick. Spans stay valid until the next push(), pop() or reset().
    JitterFrame pop(int64_t now_us);
    // Without times: the buffer's own tick clock, advanced 20 ms per pop(); a packet pushed
    // between two pops arrived at the later one's time. Do not mix with the timed overloads.
    JitterPush push(uint16_t sequence, uint32_t timestamp, std::span<const uint8_t> payload);
    JitterFrame pop();
    // Flushes the packets; the measured delay variation is kept.
    void reset();

    size_t buffered() const { return count_; }
    bool playing() const { return state_ == State::playing; }
    const JitterBufferConfig& config() const { return config_; }
    JitterStats stats() const;

  private:
    enum class State { idle, priming, playing };
    struct Slot {
        bool used = false;
        uint16_t sequence = 0;
        uint32_t timestamp = 0;
        uint16_t size = 0;
    };
    std::span<uint8_t> storage(size_t index) {
        return {data_.data() + index * config_.max_payload, config_.max_payload};
    }
    void clear_slot(size_t index);
    void start(uint16_t sequence);
    void observe_arrival(int64_t k, int64_t arrival_us);
    double target_ms() const;

    JitterBufferConfig config_;
    size_t mask_;
    bool have_play_ts_ = false;  // timestamp_per_frame known and a packet played
    uint32_t play_ts_ = 0;       // the RTP timestamp the next frame should have
    std::vector<Slot> slots_;
    std::vector<uint8_t> data_;
    State state_ = State::idle;
    uint16_t playout_ = 0;  // next sequence number to play
    uint16_t highest_ = 0;  // highest sequence number buffered since start
    uint32_t prime_left_ = 0;
    uint32_t missing_in_row_ = 0;
    size_t count_ = 0;

    // Timing (see the class comment). Indices are extended sequence numbers since start().
    int64_t virtual_now_us_ = 0;  // the untimed overloads' clock
    int64_t playout_k_ = 0;       // index of playout_
    int64_t highest_k_ = 0;       // index of highest_
    bool have_base_ = false;
    int64_t base_us_ = 0;
    bool measured_ = false;  // peak_ms_ has been seeded
    double peak_ms_ = 0;
    uint32_t frames_since_drop_ = 0;
    JitterStats stats_;
    double delay_sum_ms_ = 0;
    uint64_t delay_frames_ = 0;
};

}  // namespace p2psip::media
