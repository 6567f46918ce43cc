#include "p2psip/media/codec.hpp"

#include <opus/opus.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <numbers>

#include "p2psip/media/error.hpp"
#include "resample.hpp"

namespace p2psip::media {

namespace detail {

const std::array<float, kFirTaps>& lowpass_fir() {
    // Hamming-windowed sinc, cutoff 3.6 kHz at 48 kHz, normalised to unity DC gain.
    static const std::array<float, kFirTaps> taps = [] {
        std::array<double, kFirTaps> h{};
        const double fc = 3600.0 / 48000.0;
        const double mid = (kFirTaps - 1) / 2.0;
        double sum = 0;
        for (size_t i = 0; i < kFirTaps; ++i) {
            const double x = static_cast<double>(i) - mid;
            const double sinc =
                x == 0 ? 2 * fc : std::sin(2 * std::numbers::pi * fc * x) / (std::numbers::pi * x);
            const double w = 0.54 - 0.46 * std::cos(2 * std::numbers::pi * i / (kFirTaps - 1));
            h[i] = sinc * w;
            sum += h[i];
        }
        std::array<float, kFirTaps> out{};
        for (size_t i = 0; i < kFirTaps; ++i) out[i] = static_cast<float>(h[i] / sum);
        return out;
    }();
    return taps;
}

namespace {
int16_t saturate(float v) {
    return static_cast<int16_t>(std::clamp(std::lround(v), -32768L, 32767L));
}
}  // namespace

void Decimator6::process(std::span<const int16_t> in, std::span<int16_t> out) {
    const auto& h = lowpass_fir();
    const size_t n = std::min(in.size(), kMaxIn);
    std::copy(hist_.begin(), hist_.end(), buf_.begin());
    for (size_t i = 0; i < n; ++i) buf_[hist_.size() + i] = in[i];
    const size_t outs = std::min(n / kResampleFactor, out.size());
    for (size_t m = 0; m < outs; ++m) {
        // y[m] = sum_k h[k] x[6m - k], with x[j] at buf_[kFirTaps - 1 + j].
        const size_t last = kFirTaps - 1 + kResampleFactor * m;
        float acc = 0;
        for (size_t k = 0; k < kFirTaps; ++k) acc += h[k] * buf_[last - k];
        out[m] = saturate(acc);
    }
    std::copy(buf_.begin() + n, buf_.begin() + n + hist_.size(), hist_.begin());
}

void Interpolator6::process(std::span<const int16_t> in, std::span<int16_t> out) {
    const auto& h = lowpass_fir();
    const size_t n = std::min(in.size(), kMaxIn);
    std::copy(hist_.begin(), hist_.end(), buf_.begin());
    for (size_t i = 0; i < n; ++i) buf_[kHist + i] = in[i];
    const size_t outs = std::min(n * kResampleFactor, out.size());
    for (size_t t = 0; t < outs; ++t) {
        // Zero-stuffed input u[6j] = x[j]; y[t] = 6 * sum_k h[k] u[t - k] over k ≡ t (mod 6).
        const size_t phase = t % kResampleFactor;
        const size_t j0 = kHist + t / kResampleFactor;
        float acc = 0;
        for (size_t k = phase, i = 0; k < kFirTaps; k += kResampleFactor, ++i)
            acc += h[k] * buf_[j0 - i];
        out[t] = saturate(acc * kResampleFactor);
    }
    std::copy(buf_.begin() + n, buf_.begin() + n + kHist, hist_.begin());
}

}  // namespace detail

namespace {

constexpr CodecInfo kOpusInfo{"opus", 48000, 2, -1, "minptime=10;useinbandfec=1", 960};
constexpr CodecInfo kPcmuInfo{"PCMU", 8000, 1, 0, "", 160};
constexpr CodecInfo kPcmaInfo{"PCMA", 8000, 1, 8, "", 160};

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

class OpusEnc final : public AudioEncoder {
  public:
    explicit OpusEnc(OpusEncoder* enc) : enc_(enc) {}
    ~OpusEnc() override { opus_encoder_destroy(enc_); }
    OpusEnc(const OpusEnc&) = delete;
    OpusEnc& operator=(const OpusEnc&) = delete;
    const CodecInfo& info() const override { return kOpusInfo; }
    std::error_code encode(std::span<const int16_t> pcm, std::span<uint8_t> out,
                           size_t& written) override {
        if (pcm.size() != kFrameSamples) return errc::invalid_argument;
        const int n = opus_encode(enc_, pcm.data(), static_cast<int>(pcm.size()), out.data(),
                                  static_cast<opus_int32>(std::min<size_t>(out.size(), 4000)));
        if (n == OPUS_BUFFER_TOO_SMALL) return errc::buffer_too_small;
        if (n < 0) return errc::codec_failure;
        written = static_cast<size_t>(n);
        return {};
    }

  private:
    OpusEncoder* enc_;
};

class OpusDec final : public AudioDecoder {
  public:
    explicit OpusDec(OpusDecoder* dec) : dec_(dec) {}
    ~OpusDec() override { opus_decoder_destroy(dec_); }
    OpusDec(const OpusDec&) = delete;
    OpusDec& operator=(const OpusDec&) = delete;
    const CodecInfo& info() const override { return kOpusInfo; }
    std::error_code decode(std::span<const uint8_t> payload, std::span<int16_t> pcm,
                           size_t& samples) override {
        if (payload.empty()) return errc::malformed_packet;
        return run(payload.data(), payload.size(), pcm, pcm.size(), 0, samples);
    }
    std::error_code conceal(std::span<int16_t> pcm, size_t& samples) override {
        // RFC 6716 §4.4: a NULL packet asks the decoder for PLC of one frame.
        return run(nullptr, 0, pcm, kFrameSamples, 0, samples);
    }
    std::error_code recover(std::span<const uint8_t> next_payload, std::span<int16_t> pcm,
                            size_t& samples) override {
        if (next_payload.empty()) return conceal(pcm, samples);
        return run(next_payload.data(), next_payload.size(), pcm, kFrameSamples, 1, samples);
    }

  private:
    std::error_code run(const uint8_t* data, size_t len, std::span<int16_t> pcm, size_t frame,
                        int fec, size_t& samples) {
        if (pcm.size() < frame) return errc::buffer_too_small;
        const int n = opus_decode(dec_, data, static_cast<opus_int32>(len), pcm.data(),
                                  static_cast<int>(frame), fec);
        if (n == OPUS_BUFFER_TOO_SMALL) return errc::buffer_too_small;
        if (n == OPUS_INVALID_PACKET) return errc::malformed_packet;
        if (n < 0) return errc::codec_failure;
        samples = static_cast<size_t>(n);
        return {};
    }
    OpusDecoder* dec_;
};

// G.711 at 8 kHz behind the 48 kHz interface; Info and the companding law are the parameters.
template <const CodecInfo& Info, uint8_t (*Compress)(int16_t) noexcept>
class G711Enc final : public AudioEncoder {
  public:
    const CodecInfo& info() const override { return Info; }
    std::error_code encode(std::span<const int16_t> pcm, std::span<uint8_t> out,
                           size_t& written) override {
        if (pcm.size() != kFrameSamples) return errc::invalid_argument;
        constexpr size_t n = kFrameSamples / detail::kResampleFactor;
        if (out.size() < n) return errc::buffer_too_small;
        std::array<int16_t, n> narrow;
        down_.process(pcm, narrow);
        for (size_t i = 0; i < n; ++i) out[i] = Compress(narrow[i]);
        written = n;
        return {};
    }

  private:
    detail::Decimator6 down_;
};

template <const CodecInfo& Info, int16_t (*Expand)(uint8_t) noexcept>
class G711Dec final : public AudioDecoder {
  public:
    const CodecInfo& info() const override { return Info; }
    std::error_code decode(std::span<const uint8_t> payload, std::span<int16_t> pcm,
                           size_t& samples) override {
        if (payload.empty() || payload.size() > detail::Interpolator6::kMaxIn)
            return errc::malformed_packet;
        const size_t outs = payload.size() * detail::kResampleFactor;
        if (pcm.size() < outs) return errc::buffer_too_small;
        std::array<int16_t, detail::Interpolator6::kMaxIn> narrow;
        for (size_t i = 0; i < payload.size(); ++i) narrow[i] = Expand(payload[i]);
        up_.process(std::span(narrow).first(payload.size()), pcm);
        // Keep the most recent 20 ms for concealment.
        const size_t keep = std::min(outs, kFrameSamples);
        std::move(last_.begin() + keep, last_.end(), last_.begin());
        std::copy(pcm.begin() + (outs - keep), pcm.begin() + outs,
                  last_.begin() + (kFrameSamples - keep));
        lost_in_row_ = 0;
        samples = outs;
        return {};
    }
    std::error_code conceal(std::span<int16_t> pcm, size_t& samples) override {
        // Repeat the last frame with a linear fade: silent after three lost frames (60 ms).
        if (pcm.size() < kFrameSamples) return errc::buffer_too_small;
        constexpr double kFadePerFrame = 1.0 / 3.0;
        const double g0 = std::max(0.0, 1.0 - kFadePerFrame * lost_in_row_);
        const double g1 = std::max(0.0, g0 - kFadePerFrame);
        for (size_t i = 0; i < kFrameSamples; ++i) {
            const double g = g0 + (g1 - g0) * static_cast<double>(i) / kFrameSamples;
            pcm[i] = static_cast<int16_t>(std::lround(last_[i] * g));
        }
        ++lost_in_row_;
        samples = kFrameSamples;
        return {};
    }

  private:
    detail::Interpolator6 up_;
    std::array<int16_t, kFrameSamples> last_{};
    int lost_in_row_ = 0;
};

using PcmuEnc = G711Enc<kPcmuInfo, linear_to_ulaw>;
using PcmuDec = G711Dec<kPcmuInfo, ulaw_to_linear>;
using PcmaEnc = G711Enc<kPcmaInfo, linear_to_alaw>;
using PcmaDec = G711Dec<kPcmaInfo, alaw_to_linear>;

}  // namespace

std::optional<CodecInfo> find_codec(std::string_view name) {
    // Accept "name", "name/rate" and "name/rate/channels" as long as rate/channels match.
    const size_t slash = name.find('/');
    const std::string_view base = name.substr(0, slash);
    std::string_view rest = slash == std::string_view::npos ? "" : name.substr(slash + 1);
    for (const CodecInfo* info : {&kOpusInfo, &kPcmuInfo, &kPcmaInfo}) {
        if (!iequals(base, info->name)) continue;
        if (rest.empty()) return *info;
        const std::string full = rtpmap_string(*info);
        const std::string alt = std::string(info->name) + "/" + std::to_string(info->clock_rate);
        if (iequals(name, full) || iequals(name, alt)) return *info;
    }
    return std::nullopt;
}

std::string rtpmap_string(const CodecInfo& info) {
    std::string s = std::string(info.name) + "/" + std::to_string(info.clock_rate);
    if (info.channels > 1) s += "/" + std::to_string(info.channels);
    return s;
}

std::unique_ptr<AudioEncoder> make_opus_encoder(const OpusOptions& options, std::error_code& ec) {
    int err = OPUS_OK;
    OpusEncoder* enc = opus_encoder_create(kSampleRate, 1, OPUS_APPLICATION_VOIP, &err);
    if (err != OPUS_OK || !enc) {
        ec = errc::codec_failure;
        return nullptr;
    }
    auto out = std::make_unique<OpusEnc>(enc);
    if (opus_encoder_ctl(enc, OPUS_SET_BITRATE(options.bitrate)) != OPUS_OK ||
        opus_encoder_ctl(enc, OPUS_SET_INBAND_FEC(options.inband_fec ? 1 : 0)) != OPUS_OK ||
        opus_encoder_ctl(enc, OPUS_SET_PACKET_LOSS_PERC(options.expected_loss_percent)) !=
            OPUS_OK ||
        opus_encoder_ctl(enc, OPUS_SET_DTX(options.dtx ? 1 : 0)) != OPUS_OK ||
        opus_encoder_ctl(enc, OPUS_SET_COMPLEXITY(options.complexity)) != OPUS_OK) {
        ec = errc::invalid_argument;
        return nullptr;
    }
    ec.clear();
    return out;
}

std::unique_ptr<AudioDecoder> make_opus_decoder(std::error_code& ec) {
    int err = OPUS_OK;
    OpusDecoder* dec = opus_decoder_create(kSampleRate, 1, &err);
    if (err != OPUS_OK || !dec) {
        ec = errc::codec_failure;
        return nullptr;
    }
    ec.clear();
    return std::make_unique<OpusDec>(dec);
}

std::unique_ptr<AudioEncoder> make_pcmu_encoder() {
    return std::make_unique<PcmuEnc>();
}
std::unique_ptr<AudioDecoder> make_pcmu_decoder() {
    return std::make_unique<PcmuDec>();
}
std::unique_ptr<AudioEncoder> make_pcma_encoder() {
    return std::make_unique<PcmaEnc>();
}
std::unique_ptr<AudioDecoder> make_pcma_decoder() {
    return std::make_unique<PcmaDec>();
}

std::unique_ptr<AudioEncoder> make_encoder(std::string_view name, std::error_code& ec) {
    const auto info = find_codec(name);
    if (!info) {
        ec = errc::unsupported_codec;
        return nullptr;
    }
    if (info->name == kOpusInfo.name) return make_opus_encoder(OpusOptions{}, ec);
    ec.clear();
    return info->name == kPcmaInfo.name ? make_pcma_encoder() : make_pcmu_encoder();
}

std::unique_ptr<AudioDecoder> make_decoder(std::string_view name, std::error_code& ec) {
    const auto info = find_codec(name);
    if (!info) {
        ec = errc::unsupported_codec;
        return nullptr;
    }
    if (info->name == kOpusInfo.name) return make_opus_decoder(ec);
    ec.clear();
    return info->name == kPcmaInfo.name ? make_pcma_decoder() : make_pcmu_decoder();
}

// ITU-T G.711 µ-law: bias 0x84, 8 segments, sign bit, all bits inverted on the wire.
uint8_t linear_to_ulaw(int16_t sample) noexcept {
    constexpr int kBias = 0x84;
    constexpr int kClip = 32635;
    int s = sample;
    const int sign = s < 0 ? 0x80 : 0;
    if (s < 0) s = -s;
    if (s > kClip) s = kClip;
    s += kBias;
    int exponent = 7;
    for (int mask = 0x4000; (s & mask) == 0 && exponent > 0; mask >>= 1) --exponent;
    const int mantissa = (s >> (exponent + 3)) & 0x0f;
    return static_cast<uint8_t>(~(sign | (exponent << 4) | mantissa));
}

int16_t ulaw_to_linear(uint8_t code) noexcept {
    constexpr int kBias = 0x84;
    const int u = static_cast<uint8_t>(~code);
    const int exponent = (u >> 4) & 0x07;
    const int mantissa = u & 0x0f;
    const int magnitude = (((mantissa << 3) + kBias) << exponent) - kBias;
    return static_cast<int16_t>((u & 0x80) ? -magnitude : magnitude);
}

// ITU-T G.711 A-law: 13-bit magnitude, segment 0 and 1 share a step of 2, each further segment
// doubles it; the sign bit is 1 for positive values and the even bits are inverted (XOR 0x55).
uint8_t linear_to_alaw(int16_t sample) noexcept {
    int s = sample >> 3;  // 13 bits
    uint8_t mask = 0xd5;  // positive: sign bit set, then the even-bit inversion
    if (s < 0) {
        s = -s - 1;  // one's complement keeps the two halves symmetric
        mask = 0x55;
    }
    int segment = 0;
    while (segment < 8 && s >= (0x20 << segment)) ++segment;  // segment ends 31, 63, ...
    if (segment >= 8) return static_cast<uint8_t>(0x7f ^ mask);
    const int mantissa = segment == 0 ? (s >> 1) & 0x0f : (s >> segment) & 0x0f;
    return static_cast<uint8_t>(((segment << 4) | mantissa) ^ mask);
}

int16_t alaw_to_linear(uint8_t code) noexcept {
    const int a = code ^ 0x55;
    const int segment = (a >> 4) & 0x07;
    const int mantissa = a & 0x0f;
    // Decode to the middle of the quantisation interval.
    const int magnitude =
        segment == 0 ? (mantissa << 1) + 1 : ((mantissa << 1) + 33) << (segment - 1);
    const int linear = magnitude << 3;
    return static_cast<int16_t>((a & 0x80) ? linear : -linear);
}

}  // namespace p2psip::media
