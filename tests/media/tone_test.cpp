#include "p2psip/media/tone.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <numbers>
#include <random>
#include <vector>

#include "p2psip/media/audio_device.hpp"
#include "p2psip/media/error.hpp"

namespace p2psip::media {
namespace {

std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() /
            ("p2psip_tone_" + std::to_string(::getpid()) + "_" + name))
        .string();
}

std::vector<int16_t> sine(double hz, double amp, size_t n, int rate = 48000) {
    std::vector<int16_t> v(n);
    for (size_t i = 0; i < n; ++i)
        v[i] = static_cast<int16_t>(
            std::lround(amp * 32767 * std::sin(2 * std::numbers::pi * hz * i / rate)));
    return v;
}

}  // namespace

TEST(Tone, CleanSine) {
    const auto pcm = sine(440, 0.5, 48000);
    const auto r = analyze_tone(pcm, 48000, 440);
    EXPECT_NEAR(r.peak_hz, 440, 2);
    EXPECT_GT(r.snr_db, 60);
    EXPECT_NEAR(r.rms, 0.5 / std::sqrt(2.0), 0.005);
    EXPECT_EQ(r.samples, 48000u);

    const auto r8k = analyze_tone(sine(1000, 0.3, 8000, 8000), 8000, 1000);
    EXPECT_NEAR(r8k.peak_hz, 1000, 2);
    EXPECT_GT(r8k.snr_db, 60);
}

TEST(Tone, WrongFrequencyAndNoiseScoreLow) {
    const auto pcm = sine(1000, 0.5, 48000);
    EXPECT_LT(analyze_tone(pcm, 48000, 440).snr_db, -20);

    std::mt19937 rng(1);
    std::normal_distribution<double> noise(0, 3000);
    std::vector<int16_t> noisy = sine(440, 0.1, 48000);
    for (auto& s : noisy) s = static_cast<int16_t>(std::clamp(s + noise(rng), -32768.0, 32767.0));
    const auto r = analyze_tone(noisy, 48000, 440);
    // Tone power 0.005 vs white noise power 0.0084 over 24 kHz: SNR around -2 dB.
    EXPECT_LT(r.snr_db, 5);
    EXPECT_GT(r.snr_db, -10);

    EXPECT_EQ(analyze_tone({}, 48000, 440).samples, 0u);
}

TEST(Tone, WavHelpersTrimSilence) {
    const std::string path = temp_path("trim.wav");
    {
        std::error_code ec;
        auto sink = WavFileSink::open(path, ec);
        ASSERT_TRUE(sink);
        std::vector<int16_t> silence(48000 / 2);
        sink->write(silence);
        sink->write(sine(440, 0.3, 48000));
        sink->write(silence);
        ASSERT_FALSE(sink->close());
    }
    ToneReport r;
    ASSERT_FALSE(analyze_wav(path, 440, r));
    EXPECT_NEAR(static_cast<double>(r.samples), 48000, 200);  // the silence was trimmed
    EXPECT_NEAR(r.peak_hz, 440, 2);
    EXPECT_GT(r.snr_db, 40);
    double gap = -1;
    ASSERT_FALSE(longest_silent_gap_wav(path, gap));
    EXPECT_LT(gap, 10);  // edges do not count
    std::filesystem::remove(path);
}

TEST(Tone, WriteToneWavAndErrors) {
    const std::string path = temp_path("tone.wav");
    ASSERT_FALSE(write_tone_wav(path, 1000, 0.5, 16000));
    std::vector<int16_t> pcm;
    int rate = 0;
    ASSERT_FALSE(read_wav_mono(path, pcm, rate));
    EXPECT_EQ(rate, 16000);
    EXPECT_EQ(pcm.size(), 8000u);
    ToneReport r;
    ASSERT_FALSE(analyze_wav(path, 1000, r));
    EXPECT_NEAR(r.peak_hz, 1000, 3);
    EXPECT_GT(r.snr_db, 40);
    EXPECT_NEAR(r.rms, 0.5 / std::sqrt(2.0), 0.01);

    ASSERT_FALSE(write_tone_wav(path, 440, 0.2, 48000, 0.0));  // all silence
    EXPECT_EQ(analyze_wav(path, 440, r), errc::not_an_audio_signal);
    std::filesystem::remove(path);

    EXPECT_EQ(analyze_wav("/nonexistent.wav", 440, r), errc::file_open_failed);
    EXPECT_EQ(write_tone_wav("/nonexistent/dir/x.wav", 440, 1), errc::file_open_failed);
    EXPECT_EQ(write_tone_wav(path, 440, 1, 48000, 2.0), errc::invalid_argument);
}

TEST(Tone, LongestSilentGap) {
    std::vector<int16_t> pcm(4800);  // 100 ms leading silence (ignored)
    auto a = sine(440, 0.3, 9600);
    pcm.insert(pcm.end(), a.begin(), a.end());
    pcm.insert(pcm.end(), 9600, 0);  // 200 ms gap
    pcm.insert(pcm.end(), a.begin(), a.end());
    pcm.insert(pcm.end(), 2400, 0);  // 50 ms gap
    pcm.insert(pcm.end(), a.begin(), a.end());
    pcm.insert(pcm.end(), 48000, 0);  // 1 s trailing silence (ignored)
    const double gap = longest_silent_gap_ms(pcm, 48000);
    EXPECT_NEAR(gap, 200, 10);

    const auto trimmed = trim_silence(pcm);
    EXPECT_NEAR(static_cast<double>(trimmed.size()), 9600 * 3 + 9600 + 2400, 10);
    EXPECT_EQ(longest_silent_gap_ms(a, 48000), 0.0);
}

}  // namespace p2psip::media
