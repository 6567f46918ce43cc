#include "p2psip/media/jitter_buffer.hpp"

#include <algorithm>
#include <cstring>

#include "p2psip/media/rtp.hpp"

namespace p2psip::media {

namespace {
size_t round_pow2(size_t n) {
    n = std::clamp<size_t>(n, 4, 32768);
    size_t p = 1;
    while (p < n) p <<= 1;
    return p;
}
}  // namespace

JitterBuffer::JitterBuffer(JitterBufferConfig config)
    : config_(config),
      mask_(round_pow2(config.capacity) - 1),
      slots_(mask_ + 1),
      data_((mask_ + 1) * std::clamp<size_t>(config.max_payload, 1, 65535)) {
    config_.capacity = mask_ + 1;
    config_.max_payload = std::clamp<size_t>(config.max_payload, 1, 65535);
    config_.target_delay_frames =
        std::min<uint32_t>(config_.target_delay_frames, static_cast<uint32_t>(mask_));
}

void JitterBuffer::clear_slot(size_t index) {
    if (slots_[index].used) {
        slots_[index].used = false;
        --count_;
    }
}

void JitterBuffer::reset() {
    for (size_t i = 0; i < slots_.size(); ++i) clear_slot(i);
    state_ = State::idle;
    missing_in_row_ = 0;
}

void JitterBuffer::start(uint16_t sequence) {
    reset();
    state_ = State::priming;
    playout_ = sequence;
    highest_ = sequence;
    prime_left_ = config_.target_delay_frames;
}

JitterPush JitterBuffer::push(uint16_t sequence, uint32_t timestamp,
                              std::span<const uint8_t> payload) {
    if (payload.size() > config_.max_payload) return JitterPush::too_large;
    JitterPush result = JitterPush::accepted;
    if (state_ == State::idle) {
        start(sequence);
    } else {
        const auto ahead = static_cast<int16_t>(static_cast<uint16_t>(sequence - playout_));
        if (ahead < 0) {
            // While priming nothing has been played: an earlier packet may still move the start
            // back, as long as everything buffered still fits.
            const auto span = static_cast<uint16_t>(highest_ - sequence);
            if (state_ != State::priming || span > mask_) return JitterPush::late;
            playout_ = sequence;
        } else if (static_cast<size_t>(ahead) > mask_) {
            // Far beyond the window (long outage or a sequence jump): restart from here.
            start(sequence);
            result = JitterPush::resynced;
        }
    }
    const size_t index = sequence & mask_;
    Slot& slot = slots_[index];
    if (slot.used && slot.sequence == sequence) return JitterPush::duplicate;
    if (!slot.used) ++count_;
    slot.used = true;
    slot.sequence = sequence;
    slot.timestamp = timestamp;
    slot.size = static_cast<uint16_t>(payload.size());
    if (!payload.empty()) std::memcpy(storage(index).data(), payload.data(), payload.size());
    if (seq_before(highest_, sequence)) highest_ = sequence;
    return result;
}

JitterFrame JitterBuffer::pop() {
    JitterFrame frame;
    if (state_ == State::idle) return frame;
    if (state_ == State::priming) {
        // Fixed delay: hold the first packet back for target_delay_frames ticks.
        if (prime_left_ > 0) {
            --prime_left_;
            return frame;
        }
        state_ = State::playing;
    }
    const size_t index = playout_ & mask_;
    Slot& slot = slots_[index];
    frame.sequence = playout_;
    if (slot.used && slot.sequence == playout_) {
        frame.kind = JitterFrame::Kind::packet;
        frame.timestamp = slot.timestamp;
        frame.payload = storage(index).first(slot.size);
        clear_slot(index);  // the bytes stay readable until the next push()
        missing_in_row_ = 0;
    } else {
        if (slot.used) clear_slot(index);  // stale entry from an older cycle
        if (count_ != 0) {
            missing_in_row_ = 0;
        } else if (++missing_in_row_ >= config_.idle_after_missing) {
            // The sender went quiet: stop concealing and wait for the stream to come back.
            reset();
            return frame;
        }
        frame.kind = JitterFrame::Kind::missing;
        const uint16_t next = static_cast<uint16_t>(playout_ + 1);
        const Slot& n = slots_[next & mask_];
        if (n.used && n.sequence == next) frame.next_payload = storage(next & mask_).first(n.size);
    }
    ++playout_;
    return frame;
}

}  // namespace p2psip::media
