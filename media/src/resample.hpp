#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace p2psip::media::detail {

// 48 kHz <-> 8 kHz by an integer factor of 6 with one linear-phase windowed-sinc low-pass FIR
// (cutoff 3.6 kHz). Polyphase: only the needed products are computed. No allocation.
inline constexpr size_t kResampleFactor = 6;
inline constexpr size_t kFirTaps = 121;

const std::array<float, kFirTaps>& lowpass_fir();

class Decimator6 {
  public:
    // in.size() must be a multiple of 6 and at most kMaxIn; out gets in.size()/6 samples.
    static constexpr size_t kMaxIn = 960;
    void process(std::span<const int16_t> in, std::span<int16_t> out);
    void reset() { hist_.fill(0); }

  private:
    std::array<float, kFirTaps - 1 + kMaxIn> buf_{};
    std::array<float, kFirTaps - 1> hist_{};
};

class Interpolator6 {
  public:
    // out gets in.size()*6 samples; in.size() at most kMaxIn.
    static constexpr size_t kMaxIn = 960;
    static constexpr size_t kHist = (kFirTaps + kResampleFactor - 1) / kResampleFactor;
    void process(std::span<const int16_t> in, std::span<int16_t> out);
    void reset() { hist_.fill(0); }

  private:
    std::array<float, kHist + kMaxIn> buf_{};
    std::array<float, kHist> hist_{};
};

}  // namespace p2psip::media::detail
