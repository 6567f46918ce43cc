#include "speex_resampler.hpp"

#include <speex/speex_resampler.h>

#include <algorithm>
#include <limits>
#include <utility>

#include "p2psip/media/error.hpp"

namespace p2psip::media::detail {
namespace {

SpeexResamplerState* st(void* p) {
    return static_cast<SpeexResamplerState*>(p);
}

// speexdsp counts in 32-bit lengths.
spx_uint32_t clamp32(size_t n) {
    return static_cast<spx_uint32_t>(std::min<size_t>(n, std::numeric_limits<spx_uint32_t>::max()));
}

}  // namespace

SpeexResampler::~SpeexResampler() {
    if (state_) speex_resampler_destroy(st(state_));
}

SpeexResampler::SpeexResampler(SpeexResampler&& other) noexcept
    : state_(std::exchange(other.state_, nullptr)),
      in_rate_(other.in_rate_),
      out_rate_(other.out_rate_) {}

SpeexResampler& SpeexResampler::operator=(SpeexResampler&& other) noexcept {
    if (this != &other) {
        if (state_) speex_resampler_destroy(st(state_));
        state_ = std::exchange(other.state_, nullptr);
        in_rate_ = other.in_rate_;
        out_rate_ = other.out_rate_;
    }
    return *this;
}

std::error_code SpeexResampler::init(int in_rate, int out_rate, int quality) {
    if (in_rate <= 0 || out_rate <= 0 || quality < SPEEX_RESAMPLER_QUALITY_MIN ||
        quality > SPEEX_RESAMPLER_QUALITY_MAX) {
        return errc::invalid_argument;
    }
    int err = RESAMPLER_ERR_SUCCESS;
    SpeexResamplerState* s = speex_resampler_init(
        1, static_cast<spx_uint32_t>(in_rate), static_cast<spx_uint32_t>(out_rate), quality, &err);
    if (!s || err != RESAMPLER_ERR_SUCCESS) {
        if (s) speex_resampler_destroy(s);
        return errc::invalid_argument;
    }
    if (state_) speex_resampler_destroy(st(state_));
    state_ = s;
    in_rate_ = in_rate;
    out_rate_ = out_rate;
    return {};
}

size_t SpeexResampler::max_output(size_t in_samples) const {
    if (in_rate_ <= 0) return in_samples;
    // ceil(in * out / in_rate) plus slack for the fractional phase carried between calls.
    const auto n = static_cast<uint64_t>(in_samples) * static_cast<uint64_t>(out_rate_);
    return static_cast<size_t>((n + static_cast<uint64_t>(in_rate_) - 1) / in_rate_) + 2;
}

size_t SpeexResampler::input_for(size_t out_samples) const {
    if (out_rate_ <= 0) return out_samples;
    const auto n = static_cast<uint64_t>(out_samples) * static_cast<uint64_t>(in_rate_);
    return static_cast<size_t>((n + static_cast<uint64_t>(out_rate_) - 1) / out_rate_);
}

size_t SpeexResampler::process(std::span<const int16_t> in, std::span<int16_t> out,
                               size_t* consumed) {
    spx_uint32_t in_len = clamp32(in.size());
    spx_uint32_t out_len = clamp32(out.size());
    if (!state_ || speex_resampler_process_int(st(state_), 0, in.data(), &in_len, out.data(),
                                               &out_len) != RESAMPLER_ERR_SUCCESS) {
        in_len = 0;
        out_len = 0;
    }
    if (consumed) *consumed = in_len;
    return out_len;
}

size_t SpeexResampler::process(std::span<const float> in, std::span<float> out, size_t* consumed) {
    spx_uint32_t in_len = clamp32(in.size());
    spx_uint32_t out_len = clamp32(out.size());
    if (!state_ || speex_resampler_process_float(st(state_), 0, in.data(), &in_len, out.data(),
                                                 &out_len) != RESAMPLER_ERR_SUCCESS) {
        in_len = 0;
        out_len = 0;
    }
    if (consumed) *consumed = in_len;
    return out_len;
}

void SpeexResampler::skip_zeros() {
    if (state_) speex_resampler_skip_zeros(st(state_));
}

int SpeexResampler::input_latency() const {
    return state_ ? speex_resampler_get_input_latency(st(state_)) : 0;
}

}  // namespace p2psip::media::detail
