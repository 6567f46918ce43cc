#include "p2psip/media/jitter_buffer.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "p2psip/media/rtp.hpp"

namespace p2psip::media {

namespace {

constexpr int64_t kFrameUs = 20'000;
constexpr double kFrameMsD = 20.0;
// The base follows a sender whose clock runs up to 250 ppm fast (5 us per 20 ms packet).
constexpr int64_t kBaseCreepUs = 5;
// Per packet: a half-life of 250 packets (5 s) once the delay variation calms down.
constexpr double kPeakDecay = 0.99723;
constexpr double kMarginMs = 10.0;
// A frame is skipped only when the delay stays at or above the target without it.
constexpr double kShrinkAboveMs = 20.0;
constexpr uint32_t kMinFramesBetweenDrops = 25;
// A packet this many frames ahead of the playout timestamp is not waited for (a sender that
// jumped its clock): it is played now and the timestamps follow it.
constexpr int64_t kMaxSilentFrames = 100;

int32_t ts_diff(uint32_t a, uint32_t b) {
    return static_cast<int32_t>(a - b);
}

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
    // The delay cannot exceed what the slots hold (one slot is the frame being played).
    config_.max_delay_ms =
        std::min<uint32_t>(config_.max_delay_ms, static_cast<uint32_t>(mask_ - 1) * kFrameMsD);
    config_.min_delay_ms = std::min(config_.min_delay_ms, config_.max_delay_ms);
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
    have_base_ = false;  // a new talkspurt may come with a different offset
    have_play_ts_ = false;
}

double JitterBuffer::target_ms() const {
    const double initial = config_.target_delay_frames * kFrameMsD;
    if (!config_.adaptive) return initial;
    const double t = measured_ ? peak_ms_ + kMarginMs : initial;
    return std::clamp(t, static_cast<double>(config_.min_delay_ms),
                      static_cast<double>(config_.max_delay_ms));
}

void JitterBuffer::start(uint16_t sequence) {
    reset();
    state_ = State::priming;
    playout_ = sequence;
    highest_ = sequence;
    playout_k_ = 0;
    highest_k_ = 0;
    if (config_.adaptive && !measured_) {
        // Start from the configured delay and let the decay bring it down if the path is calm.
        peak_ms_ = std::max(0.0, config_.target_delay_frames * kFrameMsD - kMarginMs);
        measured_ = true;
    }
    prime_left_ = config_.adaptive ? static_cast<uint32_t>(std::ceil(target_ms() / kFrameMsD))
                                   : config_.target_delay_frames;
}

void JitterBuffer::observe_arrival(int64_t k, int64_t arrival_us) {
    const int64_t d = arrival_us - k * kFrameUs;
    if (!have_base_ || d < base_us_) {
        base_us_ = d;
        have_base_ = true;
    } else {
        base_us_ = std::min(base_us_ + kBaseCreepUs, d);
    }
    const double r = std::min(static_cast<double>(d - base_us_) / 1000.0,
                              static_cast<double>(config_.max_delay_ms));
    peak_ms_ = std::max(r, peak_ms_ * kPeakDecay);
}

JitterPush JitterBuffer::push(uint16_t sequence, uint32_t timestamp,
                              std::span<const uint8_t> payload) {
    return push(sequence, timestamp, payload, virtual_now_us_);
}

JitterPush JitterBuffer::push(uint16_t sequence, uint32_t timestamp,
                              std::span<const uint8_t> payload, int64_t arrival_us) {
    if (payload.size() > config_.max_payload) return JitterPush::too_large;
    JitterPush result = JitterPush::accepted;
    int64_t k = 0;
    if (state_ == State::idle) {
        start(sequence);
    } else {
        k = highest_k_ + static_cast<int16_t>(static_cast<uint16_t>(sequence - highest_));
        const auto ahead = static_cast<int16_t>(static_cast<uint16_t>(sequence - playout_));
        if (ahead < 0 && have_play_ts_ && ts_diff(timestamp, play_ts_) >= 0) {
            // Behind by sequence number but not by timestamp: the sender was silent (DTX)
            // while we concealed over its next sequence numbers. A new talkspurt: restart
            // from it, timing included (the silence is not delay variation).
            ++stats_.talkspurts;
            start(sequence);
            k = 0;
            result = JitterPush::resynced;
        } else if (ahead < 0) {
            // While priming nothing has been played: an earlier packet may still move the start
            // back, as long as everything buffered still fits.
            const auto span = static_cast<uint16_t>(highest_ - sequence);
            if (state_ != State::priming || span > mask_) {
                // Too late to play, but its lateness is exactly what the target must cover.
                if (span <= mask_) observe_arrival(k, arrival_us);
                return JitterPush::late;
            }
            playout_ = sequence;
            playout_k_ = k;
        } else if (static_cast<size_t>(ahead) > mask_) {
            // Far beyond the window (long outage or a sequence jump): restart from here.
            start(sequence);
            k = 0;
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
    if (seq_before(highest_, sequence)) {
        highest_ = sequence;
        highest_k_ = k;
    }
    observe_arrival(k, arrival_us);
    return result;
}

JitterFrame JitterBuffer::pop() {
    const JitterFrame f = pop(virtual_now_us_);
    virtual_now_us_ += kFrameUs;
    return f;
}

JitterFrame JitterBuffer::pop(int64_t now_us) {
    JitterFrame frame;
    if (state_ == State::idle) return frame;
    if (state_ == State::priming) {
        // Hold the first packet back for the initial delay.
        if (prime_left_ > 0) {
            --prime_left_;
            return frame;
        }
        state_ = State::playing;
        frames_since_drop_ = 0;
    }
    double delay_ms =
        have_base_ ? static_cast<double>(now_us - (base_us_ + playout_k_ * kFrameUs)) / 1000.0
                   : 0.0;
    if (frames_since_drop_ < 2 * kMinFramesBetweenDrops) ++frames_since_drop_;
    if (config_.adaptive && have_base_) {
        const double target = target_ms();
        if (delay_ms < target) {
            // Grow at once: one concealment frame now, the same sequence number next tick.
            ++stats_.frames_inserted;
            stats_.delay_ms = delay_ms;
            frame.kind = JitterFrame::Kind::inserted;
            frame.sequence = playout_;
            return frame;
        }
        const size_t index = playout_ & mask_;
        const bool present = slots_[index].used && slots_[index].sequence == playout_;
        // Shrink slowly: skip one frame, preferably a missing one (nothing is lost then); a
        // present one only after waiting another interval for a missing one.
        if (delay_ms > target + kShrinkAboveMs &&
            frames_since_drop_ >= (present ? 2 : 1) * kMinFramesBetweenDrops) {
            if (present) clear_slot(index);
            ++playout_;
            ++playout_k_;
            if (have_play_ts_) play_ts_ += config_.timestamp_per_frame;
            delay_ms -= kFrameMsD;
            frames_since_drop_ = 0;
            ++stats_.frames_dropped;
        }
    }
    stats_.delay_ms = delay_ms;

    const size_t index = playout_ & mask_;
    Slot& slot = slots_[index];
    frame.sequence = playout_;
    const uint32_t tpf = config_.timestamp_per_frame;
    if (slot.used && slot.sequence == playout_ && have_play_ts_) {
        const int32_t early = ts_diff(slot.timestamp, play_ts_);
        if (early >= static_cast<int32_t>(tpf) && early < kMaxSilentFrames * tpf) {
            // Its time has not come: the sender was silent before it (DTX). Conceal one
            // frame of that silence (Opus turns it into comfort noise) and keep the packet.
            ++stats_.frames_silent;
            play_ts_ += tpf;
            frame.kind = JitterFrame::Kind::missing;
            return frame;
        }
    }
    if (slot.used && slot.sequence == playout_) {
        // max(expected, this one's) + a frame: telephone-events repeat their start timestamp.
        if (tpf) {
            play_ts_ = (have_play_ts_ && ts_diff(play_ts_, slot.timestamp) > 0 ? play_ts_
                                                                               : slot.timestamp) +
                       tpf;
            have_play_ts_ = true;
        }
        frame.kind = JitterFrame::Kind::packet;
        frame.timestamp = slot.timestamp;
        frame.payload = storage(index).first(slot.size);
        clear_slot(index);  // the bytes stay readable until the next push()
        missing_in_row_ = 0;
        delay_sum_ms_ += delay_ms;
        ++delay_frames_;
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
        if (have_play_ts_) play_ts_ += tpf;
        const uint16_t next = static_cast<uint16_t>(playout_ + 1);
        const Slot& n = slots_[next & mask_];
        if (n.used && n.sequence == next) frame.next_payload = storage(next & mask_).first(n.size);
    }
    ++playout_;
    ++playout_k_;
    return frame;
}

JitterStats JitterBuffer::stats() const {
    JitterStats s = stats_;
    s.mean_delay_ms = delay_frames_ ? delay_sum_ms_ / static_cast<double>(delay_frames_) : 0.0;
    s.target_ms = target_ms();
    s.peak_jitter_ms = peak_ms_;
    return s;
}

}  // namespace p2psip::media
