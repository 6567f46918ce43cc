#include "p2psip/media/audio_device.hpp"

#include <gtest/gtest.h>
#include <sndfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <numbers>
#include <vector>

#include "p2psip/media/codec.hpp"
#include "p2psip/media/error.hpp"
#include "p2psip/media/tone.hpp"

namespace p2psip::media {
namespace {

std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() /
            ("p2psip_media_" + std::to_string(::getpid()) + "_" + name))
        .string();
}

struct TempFile {
    explicit TempFile(const std::string& name) : path(temp_path(name)) {}
    ~TempFile() { std::filesystem::remove(path); }
    std::string path;
};

}  // namespace

TEST(AudioDevice, NullAndTone) {
    NullSource null;
    std::array<int16_t, kFrameSamples> frame;
    frame.fill(123);
    EXPECT_TRUE(null.read(frame));
    for (auto s : frame) ASSERT_EQ(s, 0);

    NullSink sink;
    sink.write(frame);
    sink.write(frame);
    EXPECT_EQ(sink.samples_written(), 2 * kFrameSamples);

    ToneSource tone(1000.0, 0.5);
    std::vector<int16_t> pcm;
    for (int i = 0; i < 25; ++i) {
        ASSERT_TRUE(tone.read(frame));
        pcm.insert(pcm.end(), frame.begin(), frame.end());
    }
    const auto r = analyze_tone(pcm, kSampleRate, 1000.0);
    EXPECT_NEAR(r.peak_hz, 1000.0, 3.0);
    EXPECT_GT(r.snr_db, 60.0);  // a clean synthetic sine
    EXPECT_NEAR(r.rms, 0.5 / std::sqrt(2.0), 0.01);
}

TEST(AudioDevice, WavSinkSourceRoundTrip) {
    TempFile file("roundtrip.wav");
    std::vector<int16_t> written;
    {
        std::error_code ec;
        auto sink = WavFileSink::open(file.path, ec);
        ASSERT_TRUE(sink) << ec.message();
        ToneSource tone(440.0, 0.3);
        std::array<int16_t, kFrameSamples> frame;
        for (int i = 0; i < 10; ++i) {
            tone.read(frame);
            sink->write(frame);
            written.insert(written.end(), frame.begin(), frame.end());
        }
        EXPECT_EQ(sink->samples_written(), 10 * kFrameSamples);
        EXPECT_FALSE(sink->close());
        EXPECT_FALSE(sink->close());  // idempotent
    }
    std::error_code ec;
    auto src = WavFileSource::open(file.path, {}, ec);
    ASSERT_TRUE(src) << ec.message();
    EXPECT_EQ(src->file_sample_rate(), 48000);
    EXPECT_EQ(src->file_channels(), 1);
    ASSERT_EQ(src->total_samples(), written.size());
    std::array<int16_t, kFrameSamples> frame;
    for (int i = 0; i < 10; ++i) {
        ASSERT_TRUE(src->read(frame));
        ASSERT_TRUE(std::equal(frame.begin(), frame.end(), written.begin() + i * 960)) << i;
    }
    // After the end: silence and false.
    frame.fill(7);
    EXPECT_FALSE(src->read(frame));
    for (auto s : frame) ASSERT_EQ(s, 0);

    // Looping restarts from the beginning.
    auto loop = WavFileSource::open(file.path, WavSourceOptions{.loop = true}, ec);
    ASSERT_TRUE(loop);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(loop->read(frame));
    ASSERT_TRUE(loop->read(frame));
    EXPECT_TRUE(std::equal(frame.begin(), frame.end(), written.begin()));
}

TEST(AudioDevice, WavSourceConvertsRateAndChannels) {
    // A 16 kHz stereo file: 440 Hz on the left, 440 Hz on the right, 1 s.
    TempFile file("stereo16k.wav");
    {
        SF_INFO info{};
        info.samplerate = 16000;
        info.channels = 2;
        info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
        SNDFILE* f = sf_open(file.path.c_str(), SFM_WRITE, &info);
        ASSERT_NE(f, nullptr);
        std::vector<int16_t> pcm(2 * 16000);
        for (size_t i = 0; i < 16000; ++i) {
            const auto v = static_cast<int16_t>(
                10000 * std::sin(2 * std::numbers::pi * 440.0 * static_cast<double>(i) / 16000));
            pcm[2 * i] = v;
            pcm[2 * i + 1] = v;
        }
        ASSERT_EQ(sf_writef_short(f, pcm.data(), 16000), 16000);
        sf_close(f);
    }
    std::error_code ec;
    auto src = WavFileSource::open(file.path, {}, ec);
    ASSERT_TRUE(src) << ec.message();
    EXPECT_EQ(src->file_sample_rate(), 16000);
    EXPECT_EQ(src->file_channels(), 2);
    EXPECT_NEAR(static_cast<double>(src->total_samples()), 48000.0, 3.0);
    std::vector<int16_t> all;
    std::array<int16_t, kFrameSamples> frame;
    while (src->read(frame)) all.insert(all.end(), frame.begin(), frame.end());
    const auto r = analyze_tone(trim_silence(all), kSampleRate, 440.0);
    EXPECT_NEAR(r.peak_hz, 440.0, 3.0);
    EXPECT_GT(r.snr_db, 30.0);
    EXPECT_NEAR(r.rms, 10000.0 / 32768.0 / std::sqrt(2.0), 0.02);
}

TEST(AudioDevice, WavOpenErrors) {
    std::error_code ec;
    EXPECT_EQ(WavFileSource::open("/nonexistent/dir/x.wav", {}, ec), nullptr);
    EXPECT_EQ(ec, errc::file_open_failed);
    EXPECT_EQ(WavFileSink::open("/nonexistent/dir/x.wav", ec), nullptr);
    EXPECT_EQ(ec, errc::file_open_failed);
}

TEST(AudioDevice, SpecFactories) {
    std::error_code ec;
    auto null = open_source("null", ec);
    EXPECT_TRUE(null && !ec);
    EXPECT_NE(dynamic_cast<NullSource*>(null.get()), nullptr);
    auto tone = open_source("tone:440", ec);
    EXPECT_TRUE(tone && !ec);
    EXPECT_NE(dynamic_cast<ToneSource*>(tone.get()), nullptr);
    EXPECT_TRUE(open_source("tone:1000:0.8", ec) && !ec);
    for (const char* bad : {"tone:", "tone:abc", "tone:440:2", "tone:30000", "bogus", "wav:"}) {
        EXPECT_EQ(open_source(bad, ec), nullptr) << bad;
        EXPECT_EQ(ec, errc::bad_device_spec) << bad;
    }
    EXPECT_EQ(open_source("wav:/nonexistent.wav", ec), nullptr);
    EXPECT_EQ(ec, errc::file_open_failed);

    TempFile file("spec.wav");
    auto sink = open_sink("wav:" + file.path, ec);
    ASSERT_TRUE(sink && !ec);
    std::array<int16_t, kFrameSamples> frame{};
    sink->write(frame);
    sink.reset();  // closes the file
    auto wav = open_source("wavloop:" + file.path, ec);
    ASSERT_TRUE(wav && !ec);
    EXPECT_EQ(dynamic_cast<WavFileSource*>(wav.get())->total_samples(), kFrameSamples);
    EXPECT_TRUE(open_sink("null", ec) && !ec);
    EXPECT_EQ(open_sink("tone:440", ec), nullptr);
    EXPECT_EQ(ec, errc::bad_device_spec);
}

TEST(AudioDevice, DefaultFallsBackToNull) {
    std::error_code ec;
    auto src = open_source("default", ec);
    ASSERT_TRUE(src);
    auto sink = open_sink("default", ec);
    ASSERT_TRUE(sink);
    if (!portaudio_input_available()) {
        auto again = open_source("default", ec);
        EXPECT_EQ(ec, errc::no_audio_device);
        EXPECT_NE(dynamic_cast<NullSource*>(again.get()), nullptr);
    }
    if (!portaudio_output_available()) {
        auto again = open_sink("default", ec);
        EXPECT_EQ(ec, errc::no_audio_device);
        EXPECT_NE(dynamic_cast<NullSink*>(again.get()), nullptr);
    }
}

TEST(AudioDevice, ProbingRestoresStderr) {
    struct stat before {
    }, after{};
    ASSERT_EQ(::fstat(STDERR_FILENO, &before), 0);
    (void)portaudio_available();
    ASSERT_EQ(::fstat(STDERR_FILENO, &after), 0);
    EXPECT_EQ(before.st_dev, after.st_dev);
    EXPECT_EQ(before.st_ino, after.st_ino);
}

TEST(AudioDevice, PortAudioStreams) {
    if (!portaudio_available()) GTEST_SKIP() << "no PortAudio default input/output device";
    std::error_code ec;
    auto src = PortAudioSource::open(ec);
    ASSERT_TRUE(src) << ec.message();
    auto sink = PortAudioSink::open(ec);
    ASSERT_TRUE(sink) << ec.message();
    std::array<int16_t, kFrameSamples> frame{};
    EXPECT_TRUE(src->read(frame));
    sink->write(frame);
}

}  // namespace p2psip::media
