#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace p2psip::media {

struct JitterBufferConfig {
    size_t capacity = 64;              // slots (packets); rounded up to a power of two, <= 32768
    size_t max_payload = 1500;         // largest payload stored; bigger ones are refused
    uint32_t target_delay_frames = 3;  // fixed playout delay in 20 ms frames (60 ms)
    uint32_t idle_after_missing = 25;  // empty and missing this many frames in a row: go idle
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
        idle,     // nothing to play yet (before the first packet, while priming, after a stop)
        packet,   // payload is the frame to decode
        missing,  // the frame never arrived: conceal (next_payload, if set, can carry FEC)
    };
    Kind kind = Kind::idle;
    uint16_t sequence = 0;
    uint32_t timestamp = 0;                 // only for Kind::packet
    std::span<const uint8_t> payload;       // Kind::packet
    std::span<const uint8_t> next_payload;  // Kind::missing: the successor's payload, if buffered
};

// Fixed-capacity, fixed-delay jitter buffer for one 20 ms-packetised stream. Packets are ordered
// by RTP sequence number (16-bit wrap aware, RFC 3550 A.1); storage is allocated once in the
// constructor. Not thread-safe: push() and pop() run on the io_context thread.
class JitterBuffer {
  public:
    explicit JitterBuffer(JitterBufferConfig config = {});

    JitterPush push(uint16_t sequence, uint32_t timestamp, std::span<const uint8_t> payload);
    // One call per 20 ms playout tick. Spans stay valid until the next push(), pop() or reset().
    JitterFrame pop();
    void reset();

    size_t buffered() const { return count_; }
    bool playing() const { return state_ == State::playing; }
    const JitterBufferConfig& config() const { return config_; }

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

    JitterBufferConfig config_;
    size_t mask_;
    std::vector<Slot> slots_;
    std::vector<uint8_t> data_;
    State state_ = State::idle;
    uint16_t playout_ = 0;  // next sequence number to play
    uint16_t highest_ = 0;  // highest sequence number buffered since start
    uint32_t prime_left_ = 0;
    uint32_t missing_in_row_ = 0;
    size_t count_ = 0;
};

}  // namespace p2psip::media
