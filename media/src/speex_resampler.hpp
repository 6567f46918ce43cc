#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>

namespace p2psip::media::detail {

// Mono sample-rate converter over libspeexdsp. All memory is allocated by init(); process()
// never allocates, so it can run per frame.
class SpeexResampler {
  public:
    SpeexResampler() = default;
    ~SpeexResampler();
    SpeexResampler(SpeexResampler&& other) noexcept;
    SpeexResampler& operator=(SpeexResampler&& other) noexcept;
    SpeexResampler(const SpeexResampler&) = delete;
    SpeexResampler& operator=(const SpeexResampler&) = delete;

    // quality: 0 (fast) .. 10 (best). errc::invalid_argument for bad rates or quality.
    std::error_code init(int in_rate, int out_rate, int quality);
    bool ready() const { return state_ != nullptr; }
    int in_rate() const { return in_rate_; }
    int out_rate() const { return out_rate_; }

    // Output space that always suffices for `in_samples` inputs.
    size_t max_output(size_t in_samples) const;
    // Inputs needed for about `out_samples` outputs (rounded up).
    size_t input_for(size_t out_samples) const;

    // Converts all of `in` when out.size() >= max_output(in.size()); returns samples written.
    // `consumed` (optional) receives the inputs used.
    size_t process(std::span<const int16_t> in, std::span<int16_t> out, size_t* consumed = nullptr);
    size_t process(std::span<const float> in, std::span<float> out, size_t* consumed = nullptr);

    // Drops the filter's start-up delay from the output (use on whole files, not live streams).
    void skip_zeros();
    int input_latency() const;  // in input samples

  private:
    void* state_ = nullptr;  // SpeexResamplerState*
    int in_rate_ = 0;
    int out_rate_ = 0;
};

}  // namespace p2psip::media::detail
