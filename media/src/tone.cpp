#include "p2psip/media/tone.hpp"

#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <numbers>

#include "p2psip/media/error.hpp"

namespace p2psip::media {
namespace {

void fft(std::vector<std::complex<double>>& a) {
    const size_t n = a.size();
    for (size_t i = 1, j = 0; i < n; ++i) {  // bit reversal
        size_t bit = n >> 1;
        for (; j & bit; bit >>= 1) j ^= bit;
        j ^= bit;
        if (i < j) std::swap(a[i], a[j]);
    }
    for (size_t len = 2; len <= n; len <<= 1) {
        const double ang = -2 * std::numbers::pi / static_cast<double>(len);
        const std::complex<double> wl(std::cos(ang), std::sin(ang));
        for (size_t i = 0; i < n; i += len) {
            std::complex<double> w(1);
            for (size_t k = 0; k < len / 2; ++k) {
                const auto u = a[i + k];
                const auto v = a[i + k + len / 2] * w;
                a[i + k] = u + v;
                a[i + k + len / 2] = u - v;
                w *= wl;
            }
        }
    }
}

// The window's main lobe is ±4 bins wide; one more bin tolerates a slightly detuned tone.
constexpr double kToneHalfWidthBins = 5.0;

size_t threshold_level(double threshold) {
    return static_cast<size_t>(std::max(0.0, threshold) * 32768.0);
}

}  // namespace

ToneReport analyze_tone(std::span<const int16_t> pcm, int sample_rate, double expected_hz) {
    ToneReport r;
    r.samples = pcm.size();
    if (pcm.empty() || sample_rate <= 0) return r;
    double sq = 0;
    for (const int16_t s : pcm) sq += static_cast<double>(s) * s;
    r.rms = std::sqrt(sq / static_cast<double>(pcm.size())) / 32768.0;
    if (pcm.size() < 64) return r;

    size_t n = 4096;
    while (n > pcm.size()) n >>= 1;
    std::vector<double> window(n);
    // 4-term Blackman-Harris: -92 dB side lobes, so leakage does not cap the measurable SNR.
    for (size_t i = 0; i < n; ++i) {
        const double x = 2 * std::numbers::pi * static_cast<double>(i) / static_cast<double>(n - 1);
        window[i] =
            0.35875 - 0.48829 * std::cos(x) + 0.14128 * std::cos(2 * x) - 0.01168 * std::cos(3 * x);
    }
    std::vector<double> power(n / 2 + 1, 0.0);
    std::vector<std::complex<double>> buf(n);
    for (size_t start = 0; start + n <= pcm.size(); start += n / 2) {
        for (size_t i = 0; i < n; ++i) buf[i] = pcm[start + i] / 32768.0 * window[i];
        fft(buf);
        for (size_t k = 0; k <= n / 2; ++k) power[k] += std::norm(buf[k]);
    }

    const double bin_hz = static_cast<double>(sample_rate) / static_cast<double>(n);
    const size_t first = std::min(power.size() - 1, static_cast<size_t>(std::ceil(20.0 / bin_hz)));
    size_t peak = first;
    for (size_t k = first; k < power.size(); ++k)
        if (power[k] > power[peak]) peak = k;
    double offset = 0;
    if (peak > first && peak + 1 < power.size()) {
        // Parabolic interpolation on the log power around the peak.
        const double a = std::log(power[peak - 1] + 1e-30), b = std::log(power[peak] + 1e-30),
                     c = std::log(power[peak + 1] + 1e-30);
        const double den = a - 2 * b + c;
        if (den != 0) offset = std::clamp(0.5 * (a - c) / den, -0.5, 0.5);
    }
    r.peak_hz = (static_cast<double>(peak) + offset) * bin_hz;

    const double centre = expected_hz / bin_hz;
    double signal = 0, noise = 0;
    for (size_t k = first; k < power.size(); ++k) {
        if (std::abs(static_cast<double>(k) - centre) <= kToneHalfWidthBins) {
            signal += power[k];
        } else {
            noise += power[k];
        }
    }
    r.snr_db = noise > 0 ? 10 * std::log10(std::max(signal, 1e-30) / noise) : 200.0;
    return r;
}

std::error_code read_wav_mono(const std::string& path, std::vector<int16_t>& pcm,
                              int& sample_rate) {
    SF_INFO info{};
    SNDFILE* f = sf_open(path.c_str(), SFM_READ, &info);
    if (!f) return errc::file_open_failed;
    if (info.channels <= 0) {
        sf_close(f);
        return errc::file_io_failed;
    }
    pcm.clear();
    std::vector<int16_t> chunk(4096 * static_cast<size_t>(info.channels));
    for (;;) {
        const sf_count_t got = sf_readf_short(f, chunk.data(), 4096);
        if (got <= 0) break;
        for (sf_count_t i = 0; i < got; ++i) {
            int sum = 0;
            for (int c = 0; c < info.channels; ++c) sum += chunk[i * info.channels + c];
            pcm.push_back(static_cast<int16_t>(sum / info.channels));
        }
    }
    const bool failed = sf_error(f) != SF_ERR_NO_ERROR;
    sf_close(f);
    if (failed) return errc::file_io_failed;
    sample_rate = info.samplerate;
    return {};
}

std::span<const int16_t> trim_silence(std::span<const int16_t> pcm, double threshold) {
    const size_t level = threshold_level(threshold);
    auto loud = [level](int16_t s) { return static_cast<size_t>(std::abs(int{s})) > level; };
    const auto b = std::find_if(pcm.begin(), pcm.end(), loud);
    if (b == pcm.end()) return {};
    const auto e = std::find_if(pcm.rbegin(), pcm.rend(), loud).base();
    return {b, e};
}

std::error_code analyze_wav(const std::string& path, double expected_hz, ToneReport& out,
                            double last_seconds) {
    std::vector<int16_t> pcm;
    int rate = 0;
    if (auto ec = read_wav_mono(path, pcm, rate)) return ec;
    auto sound = trim_silence(pcm);
    if (last_seconds > 0) {
        const auto want = static_cast<size_t>(last_seconds * rate);
        if (want < sound.size()) sound = sound.subspan(sound.size() - want);
    }
    if (sound.empty()) return errc::not_an_audio_signal;
    out = analyze_tone(sound, rate, expected_hz);
    return {};
}

std::error_code write_tone_wav(const std::string& path, double freq_hz, double seconds,
                               int sample_rate, double amplitude) {
    if (sample_rate <= 0 || seconds < 0 || amplitude < 0 || amplitude > 1)
        return errc::invalid_argument;
    SF_INFO info{};
    info.samplerate = sample_rate;
    info.channels = 1;
    info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
    if (!f) return errc::file_open_failed;
    const auto total = static_cast<size_t>(std::llround(seconds * sample_rate));
    std::vector<int16_t> pcm(total);
    for (size_t i = 0; i < total; ++i) {
        const double v = amplitude * std::sin(2 * std::numbers::pi * freq_hz *
                                              static_cast<double>(i) / sample_rate);
        pcm[i] = static_cast<int16_t>(std::lround(v * 32767.0));
    }
    const sf_count_t n = sf_writef_short(f, pcm.data(), static_cast<sf_count_t>(total));
    const bool ok = sf_close(f) == 0 && n == static_cast<sf_count_t>(total);
    return ok ? std::error_code{} : make_error_code(errc::file_io_failed);
}

double longest_silent_gap_ms(std::span<const int16_t> pcm, int sample_rate, double threshold) {
    if (sample_rate <= 0) return 0;
    const auto win = static_cast<size_t>(std::max(1, sample_rate / 200));  // 5 ms
    const double level = std::max(0.0, threshold) * 32768.0;
    const size_t windows = pcm.size() / win;
    std::vector<bool> silent(windows);
    for (size_t w = 0; w < windows; ++w) {
        double sq = 0;
        for (size_t i = 0; i < win; ++i) {
            const double s = pcm[w * win + i];
            sq += s * s;
        }
        silent[w] = std::sqrt(sq / static_cast<double>(win)) < level;
    }
    // Only gaps bounded by sound on both sides.
    size_t best = 0, run = 0;
    bool seen_sound = false;
    for (size_t w = 0; w < windows; ++w) {
        if (silent[w]) {
            if (seen_sound) ++run;
        } else {
            best = std::max(best, run);
            run = 0;
            seen_sound = true;
        }
    }
    return static_cast<double>(best * win) * 1000.0 / sample_rate;
}

std::error_code longest_silent_gap_wav(const std::string& path, double& gap_ms, double threshold) {
    std::vector<int16_t> pcm;
    int rate = 0;
    if (auto ec = read_wav_mono(path, pcm, rate)) return ec;
    gap_ms = longest_silent_gap_ms(pcm, rate, threshold);
    return {};
}

}  // namespace p2psip::media
