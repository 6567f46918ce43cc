#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace p2psip::media::detail {

// Single-producer single-consumer sample ring; storage allocated once at construction.
class SpscRing {
  public:
    explicit SpscRing(size_t capacity_pow2) : buf_(capacity_pow2), mask_(capacity_pow2 - 1) {}

    size_t size() const {
        return head_.load(std::memory_order_acquire) - tail_.load(std::memory_order_acquire);
    }
    size_t capacity() const { return buf_.size(); }

    // Producer side. Writes as many samples as fit; returns the count written.
    size_t push(std::span<const int16_t> in) {
        const size_t head = head_.load(std::memory_order_relaxed);
        const size_t tail = tail_.load(std::memory_order_acquire);
        const size_t n = std::min(in.size(), buf_.size() - (head - tail));
        for (size_t i = 0; i < n; ++i) buf_[(head + i) & mask_] = in[i];
        head_.store(head + n, std::memory_order_release);
        return n;
    }

    // Consumer side. Reads up to out.size() samples; returns the count read.
    size_t pop(std::span<int16_t> out) {
        const size_t tail = tail_.load(std::memory_order_relaxed);
        const size_t head = head_.load(std::memory_order_acquire);
        const size_t n = std::min(out.size(), head - tail);
        for (size_t i = 0; i < n; ++i) out[i] = buf_[(tail + i) & mask_];
        tail_.store(tail + n, std::memory_order_release);
        return n;
    }

  private:
    std::vector<int16_t> buf_;
    size_t mask_;
    alignas(64) std::atomic<size_t> head_{0};
    alignas(64) std::atomic<size_t> tail_{0};
};

}  // namespace p2psip::media::detail
