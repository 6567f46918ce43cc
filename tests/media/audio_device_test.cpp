#include "p2psip/media/audio_device.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sndfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <new>
#include <numbers>
#include <thread>
#include <vector>

#include "p2psip/media/codec.hpp"
#include "p2psip/media/error.hpp"
#include "p2psip/media/tone.hpp"
#include "../common/replace_new.hpp"
#include "speex_resampler.hpp"  // private; tests/media/CMakeLists.txt adds media/src

// Counts operator new calls made by the current thread while g_count_allocs is set: read()/write()
// and the resampler must not allocate per frame.
namespace {
thread_local bool g_count_allocs = false;
thread_local size_t g_allocs = 0;
}  // namespace

void on_allocation() noexcept {
    if (g_count_allocs) ++g_allocs;
}

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

namespace {

std::vector<int16_t> sine(double freq, int rate, size_t n, double amplitude = 0.5,
                          size_t start = 0) {
    std::vector<int16_t> v(n);
    for (size_t i = 0; i < n; ++i) {
        v[i] = static_cast<int16_t>(std::lround(
            amplitude * 32767 *
            std::sin(2 * std::numbers::pi * freq * static_cast<double>(start + i) / rate)));
    }
    return v;
}

// Streams a 1 kHz tone through a resampler in 20 ms pieces of the input rate.
std::vector<int16_t> resample_tone(int in_rate, int out_rate, double seconds) {
    detail::SpeexResampler rs;
    EXPECT_FALSE(rs.init(in_rate, out_rate, 5));
    const auto total = static_cast<size_t>(seconds * in_rate);
    const auto in = sine(1000.0, in_rate, total);
    const size_t piece = static_cast<size_t>(in_rate) / 50;
    std::vector<int16_t> buf(rs.max_output(piece));
    std::vector<int16_t> out;
    out.reserve(rs.max_output(total));
    g_allocs = 0;
    for (size_t off = 0; off < total; off += piece) {
        const auto chunk = std::span<const int16_t>(in).subspan(off, std::min(piece, total - off));
        size_t consumed = 0;
        g_count_allocs = true;
        const size_t n = rs.process(chunk, buf, &consumed);
        g_count_allocs = false;
        EXPECT_EQ(consumed, chunk.size());
        out.insert(out.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    }
    EXPECT_EQ(g_allocs, 0u) << "resampler allocated after init";
    return out;
}

}  // namespace

TEST(SpeexResampler, PreservesToneFrequency) {
    for (const auto& [from, to] : std::vector<std::pair<int, int>>{
             {48000, 44100}, {44100, 48000}, {48000, 16000}, {16000, 48000}, {48000, 8000}}) {
        const auto out = resample_tone(from, to, 1.0);
        // All input converted, less the filter delay still inside the resampler.
        EXPECT_NEAR(static_cast<double>(out.size()), to, to * 0.01) << from << "->" << to;
        const auto r = analyze_tone(std::span(out).subspan(out.size() / 10), to, 1000.0);
        EXPECT_NEAR(r.peak_hz, 1000.0, 3.0) << from << "->" << to;
        EXPECT_GT(r.snr_db, 40.0) << from << "->" << to;
        EXPECT_NEAR(r.rms, 0.5 / std::sqrt(2.0), 0.02) << from << "->" << to;
    }
}

TEST(SpeexResampler, RejectsBadParameters) {
    detail::SpeexResampler rs;
    EXPECT_EQ(rs.init(0, 48000, 5), errc::invalid_argument);
    EXPECT_EQ(rs.init(48000, -1, 5), errc::invalid_argument);
    EXPECT_EQ(rs.init(48000, 44100, 11), errc::invalid_argument);
    EXPECT_FALSE(rs.ready());
    std::array<int16_t, 16> in{}, out{};
    EXPECT_EQ(rs.process(in, out), 0u);  // not initialised: nothing happens
    ASSERT_FALSE(rs.init(48000, 44100, 0));
    EXPECT_TRUE(rs.ready());
    detail::SpeexResampler moved(std::move(rs));
    EXPECT_TRUE(moved.ready());
    EXPECT_EQ(moved.in_rate(), 48000);
    EXPECT_EQ(moved.out_rate(), 44100);
}

TEST(AudioDevice, WavSource44k1KeepsFrequencyAndLength) {
    TempFile file("tone44k1.wav");
    ASSERT_FALSE(write_tone_wav(file.path, 1000.0, 1.0, 44100, 0.5));
    std::error_code ec;
    auto src = WavFileSource::open(file.path, {}, ec);
    ASSERT_TRUE(src) << ec.message();
    EXPECT_EQ(src->file_sample_rate(), 44100);
    EXPECT_EQ(src->total_samples(), 48000u);
    std::vector<int16_t> all;
    std::array<int16_t, kFrameSamples> frame;
    while (src->read(frame)) all.insert(all.end(), frame.begin(), frame.end());
    const auto r = analyze_tone(trim_silence(all), kSampleRate, 1000.0);
    EXPECT_NEAR(r.peak_hz, 1000.0, 2.0);
    EXPECT_GT(r.snr_db, 50.0);  // band-limited conversion, not linear interpolation
    EXPECT_NEAR(r.rms, 0.5 / std::sqrt(2.0), 0.01);
    // No start-up delay: the first output samples follow the sine from phase 0.
    EXPECT_LT(std::abs(all[0]), 300);
    EXPECT_GT(all[6], 2000);  // sin(2*pi*1000*6/48000) * 0.5 = 0.35 of full scale
}

// ---- a real PortAudio device without a sound card ----------------------------------------------
//
// ALSA's `file` plugin over a `null` slave, defined in a config of our own (ALSA_CONFIG_PATH,
// set before PortAudio initialises). PortAudio's ALSA host API enumerates such plugin PCMs like
// any device. `null` has no clock, so the files are FIFOs and the test paces them in real time:
//   p2psip_speaker: playback is written to speaker_<rate>_<channels>.raw (ALSA's %r/%c keys,
//                   so the file name proves the rate the stream really ran at);
//   p2psip_mic:     capture reads mic.fifo;
//   p2psip_outonly: capture cannot open (missing infile), so PortAudio lists no input channels.
// pcm.default exists because PortAudio 19.6 asserts when every listed PCM opens and none is
// named "default".

namespace {

std::atomic<bool>& virtual_env_active() {
    static std::atomic<bool> active{false};
    return active;
}

size_t open_fd_count() {
    size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
    return n;
}

// Reads a FIFO at `rate` frames per second, like a sound card would consume.
class PacedFifoReader {
  public:
    PacedFifoReader(const std::string& path, int rate, int channels)
        : fd_(::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC)),
          bytes_per_tick_(static_cast<size_t>(rate / 50 * channels) * sizeof(int16_t)) {
        if (fd_ < 0) return;
        thread_ = std::thread([this] {
            std::vector<int16_t> buf(bytes_per_tick_ / sizeof(int16_t));
            auto next = std::chrono::steady_clock::now();
            while (!stop_) {
                const ssize_t n = ::read(fd_, buf.data(), bytes_per_tick_);
                if (n > 0) {
                    std::lock_guard lock(mutex_);
                    data_.insert(data_.end(), buf.begin(),
                                 buf.begin() + n / static_cast<ssize_t>(sizeof(int16_t)));
                }
                next += std::chrono::milliseconds(20);
                std::this_thread::sleep_until(next);
            }
        });
    }
    ~PacedFifoReader() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
        if (fd_ >= 0) ::close(fd_);
    }
    bool ok() const { return fd_ >= 0; }
    std::vector<int16_t> samples() {
        std::lock_guard lock(mutex_);
        return data_;
    }

  private:
    int fd_;
    size_t bytes_per_tick_;
    std::atomic<bool> stop_{false};
    std::mutex mutex_;
    std::vector<int16_t> data_;
    std::thread thread_;
};

// Writes a 1 kHz tone into a FIFO at `rate` frames per second in 20 ms chunks (the callback
// size PortAudio uses, so each capture read gets whole chunks).
class PacedToneWriter {
  public:
    PacedToneWriter(int fd, int rate, int channels) : fd_(fd) {
        thread_ = std::thread([this, rate, channels] {
            const auto frames = static_cast<size_t>(rate / 50);
            std::vector<int16_t> chunk(frames * static_cast<size_t>(channels));
            size_t t = 0;
            auto next = std::chrono::steady_clock::now();
            while (!stop_) {
                const auto mono = sine(1000.0, rate, frames, 0.5, t);
                t += frames;
                for (size_t i = 0; i < frames; ++i) {
                    for (int c = 0; c < channels; ++c) chunk[i * channels + c] = mono[i];
                }
                [[maybe_unused]] const ssize_t n =
                    ::write(fd_, chunk.data(), chunk.size() * sizeof(int16_t));
                next += std::chrono::milliseconds(20);
                std::this_thread::sleep_until(next);
            }
        });
    }
    ~PacedToneWriter() {
        stop_ = true;
        thread_.join();
        std::array<char, 4096> junk;  // leave the FIFO empty for the next test
        while (::read(fd_, junk.data(), junk.size()) > 0) {
        }
    }

  private:
    int fd_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace

class VirtualAlsaDevice : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "p2psip_alsa_XXXXXX").string();
        ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
        dir_ = tmpl;
        for (const char* fifo :
             {"mic.fifo", "speaker_44100_1.raw", "speaker_48000_1.raw", "speaker_44100_2.raw"}) {
            ASSERT_EQ(::mkfifo((dir_ + "/" + fifo).c_str(), 0600), 0) << fifo;
        }
        // Held open read-write for the whole suite: PortAudio's enumeration opens the capture
        // infile, which would block on a FIFO without a writer.
        mic_fd_ = ::open((dir_ + "/mic.fifo").c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
        ASSERT_GE(mic_fd_, 0);
        const std::string conf = dir_ + "/asound.conf";
        std::ofstream(conf) << "pcm.p2psip_speaker {\n"
                               "  type file\n"
                               "  slave.pcm { type null }\n"
                               "  file \""
                            << dir_
                            << "/speaker_%r_%c.raw\"\n"
                               "  format raw\n"
                               "}\n"
                               "pcm.p2psip_mic {\n"
                               "  type file\n"
                               "  slave.pcm { type null }\n"
                               "  file \"/dev/null\"\n"
                               "  infile \""
                            << dir_
                            << "/mic.fifo\"\n"
                               "  format raw\n"
                               "}\n"
                               "pcm.p2psip_outonly {\n"
                               "  type file\n"
                               "  slave.pcm { type null }\n"
                               "  file \"/dev/null\"\n"
                               "  infile \""
                            << dir_
                            << "/missing.raw\"\n"
                               "}\n"
                               "pcm.default { type null }\n";
        ::setenv("ALSA_CONFIG_PATH", conf.c_str(), 1);
        virtual_env_active() = true;
    }
    static void TearDownTestSuite() {
        ::unsetenv("ALSA_CONFIG_PATH");
        virtual_env_active() = false;
        if (mic_fd_ >= 0) ::close(mic_fd_);
        mic_fd_ = -1;
        if (!dir_.empty()) std::filesystem::remove_all(dir_);
    }
    void SetUp() override {
        if (!available()) GTEST_SKIP() << "PortAudio does not list the virtual ALSA device";
    }

    static bool available() {
        std::error_code ec;
        for (const auto& d : list_audio_devices(ec)) {
            if (d.name == "p2psip_speaker" && d.host_api == "ALSA") return true;
        }
        return false;
    }

    // Plays 1 s of a 48 kHz 1 kHz tone through the sink at a real-time pace and returns what
    // the device received (interleaved, device rate).
    static std::vector<int16_t> play_tone(const PortAudioOptions& options, int expect_rate,
                                          int expect_channels) {
        const std::string fifo = dir_ + "/speaker_" + std::to_string(expect_rate) + "_" +
                                 std::to_string(expect_channels) + ".raw";
        PacedFifoReader device(fifo, expect_rate, expect_channels);
        EXPECT_TRUE(device.ok());
        std::error_code ec;
        auto sink = PortAudioSink::open(options, ec);
        EXPECT_TRUE(sink) << ec.message();
        if (!sink) return {};
        EXPECT_EQ(sink->device_rate(), expect_rate);
        EXPECT_EQ(sink->device_channels(), expect_channels);
        if (sink->device_rate() != expect_rate || sink->device_channels() != expect_channels) {
            return {};
        }
        ToneSource tone(1000.0, 0.5);
        std::array<int16_t, kFrameSamples> frame;
        const auto start = std::chrono::steady_clock::now();
        g_allocs = 0;
        for (int i = 0; i < 50; ++i) {
            tone.read(frame);
            g_count_allocs = true;
            sink->write(frame);
            g_count_allocs = false;
            // Ten frames ahead of the device's clock absorb scheduling jitter on a busy machine.
            std::this_thread::sleep_until(start + std::chrono::milliseconds(20 * (i - 9)));
        }
        EXPECT_EQ(g_allocs, 0u) << "PortAudioSink::write allocated";
        // The FIFO holds some silence written before the tone: wait until the tone has passed.
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        const double threshold = 0.01 * 32768;
        while (std::chrono::steady_clock::now() < deadline) {
            const auto got = device.samples();
            const auto last = std::find_if(got.rbegin(), got.rend(),
                                           [&](int16_t s) { return std::abs(s) > threshold; });
            if (last != got.rend() && last - got.rbegin() > expect_rate / 5) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        sink.reset();  // the reader keeps draining while PortAudio stops the stream
        return device.samples();
    }

    // Captures 1.5 s from p2psip_mic while the FIFO gets a 1 kHz tone at the device rate.
    static std::vector<int16_t> record_tone(const PortAudioOptions& options, int expect_rate,
                                            int expect_channels) {
        std::error_code ec;
        auto src = PortAudioSource::open(options, ec);
        EXPECT_TRUE(src) << ec.message();
        if (!src) return {};
        EXPECT_EQ(src->device_rate(), expect_rate);
        EXPECT_EQ(src->device_channels(), expect_channels);
        std::vector<int16_t> pcm;
        {
            PacedToneWriter mic(mic_fd_, src->device_rate(), src->device_channels());
            std::this_thread::sleep_for(std::chrono::milliseconds(60));
            std::array<int16_t, kFrameSamples> frame;
            const auto start = std::chrono::steady_clock::now();
            g_allocs = 0;
            for (int i = 0; i < 75; ++i) {
                std::this_thread::sleep_until(start + std::chrono::milliseconds(20 * i));
                g_count_allocs = true;
                EXPECT_TRUE(src->read(frame));
                g_count_allocs = false;
                pcm.insert(pcm.end(), frame.begin(), frame.end());
            }
            EXPECT_EQ(g_allocs, 0u) << "PortAudioSource::read allocated";
            src.reset();  // before the writer stops: the capture thread may wait on the FIFO
        }
        return pcm;
    }

    static inline std::string dir_;
    static inline int mic_fd_ = -1;
};

TEST_F(VirtualAlsaDevice, ListsDevices) {
    std::error_code ec;
    const auto devices = list_audio_devices(ec);
    ASSERT_FALSE(ec) << ec.message();
    auto find = [&](std::string_view name) {
        return std::find_if(devices.begin(), devices.end(),
                            [&](const AudioDeviceInfo& d) { return d.name == name; });
    };
    const auto speaker = find("p2psip_speaker");
    ASSERT_NE(speaker, devices.end());
    EXPECT_EQ(speaker->host_api, "ALSA");
    EXPECT_GT(speaker->max_output_channels, 0);
    EXPECT_GT(speaker->default_sample_rate, 0);
    EXPECT_EQ(devices[static_cast<size_t>(speaker - devices.begin())].index,
              static_cast<int>(speaker - devices.begin()));
    const auto mic = find("p2psip_mic");
    ASSERT_NE(mic, devices.end());
    EXPECT_GT(mic->max_input_channels, 0);
    const auto outonly = find("p2psip_outonly");
    ASSERT_NE(outonly, devices.end());
    EXPECT_EQ(outonly->max_input_channels, 0);
    EXPECT_GT(outonly->max_output_channels, 0);
    const auto def = find("default");
    ASSERT_NE(def, devices.end());
    EXPECT_TRUE(def->default_output);
    EXPECT_EQ(std::count_if(devices.begin(), devices.end(),
                            [](const AudioDeviceInfo& d) { return d.default_output; }),
              1);
}

TEST_F(VirtualAlsaDevice, SinkResamplesTo44k1) {
    const auto pcm = play_tone({.device = "p2psip_speaker", .sample_rate = 44100}, 44100, 1);
    const auto tone = trim_silence(pcm);
    ASSERT_FALSE(tone.empty());
    // 50 frames of 20 ms became about a second at 44.1 kHz, plus any underrun gaps: those
    // reached 0.64 s on a loaded 2-core machine. Frames played twice would give >= 2 s.
    EXPECT_GT(tone.size(), 44100u * 95 / 100);
    EXPECT_LT(tone.size(), 44100u * 190 / 100);
    // Analysed at 44.1 kHz: had the device run at 48 kHz the peak would sit at 919 Hz.
    const auto r = analyze_tone(tone, 44100, 1000.0);
    EXPECT_NEAR(r.peak_hz, 1000.0, 3.0);
    EXPECT_GT(r.snr_db, 10.0);  // normally ~85 dB; underrun gaps on a loaded machine cost some
}

TEST_F(VirtualAlsaDevice, SinkUpmixesToStereo) {
    const auto pcm =
        play_tone({.device = "p2psip_speaker", .sample_rate = 44100, .channels = 2}, 44100, 2);
    ASSERT_GT(pcm.size(), 2u);
    std::vector<int16_t> left, right;
    for (size_t i = 0; i + 1 < pcm.size(); i += 2) {
        left.push_back(pcm[i]);
        right.push_back(pcm[i + 1]);
    }
    EXPECT_EQ(left, right);
    const auto r = analyze_tone(trim_silence(left), 44100, 1000.0);
    EXPECT_NEAR(r.peak_hz, 1000.0, 3.0);
}

TEST_F(VirtualAlsaDevice, SinkPrefers48kWhenSupported) {
    // The null slave takes any rate, so 48 kHz is chosen and nothing is resampled.
    const auto pcm = play_tone({.device = "p2psip_speaker"}, 48000, 1);
    const auto r = analyze_tone(trim_silence(pcm), 48000, 1000.0);
    EXPECT_NEAR(r.peak_hz, 1000.0, 3.0);
    EXPECT_GT(r.snr_db, 10.0);
}

TEST_F(VirtualAlsaDevice, SourceResamplesFrom44k1) {
    const auto pcm = record_tone({.device = "p2psip_mic", .sample_rate = 44100}, 44100, 1);
    ASSERT_GT(pcm.size(), static_cast<size_t>(kSampleRate));
    // Skip start-up; the rest is steady streaming.
    const auto r =
        analyze_tone(trim_silence(std::span(pcm).subspan(kSampleRate / 4)), kSampleRate, 1000.0);
    EXPECT_NEAR(r.peak_hz, 1000.0, 3.0);
    EXPECT_GT(r.snr_db, 10.0);  // normally ~85 dB
    EXPECT_GT(r.rms, 0.1);      // 0.354 without underruns
}

TEST_F(VirtualAlsaDevice, SourceDownmixesStereo22k05) {
    const auto pcm =
        record_tone({.device = "p2psip_mic", .sample_rate = 22050, .channels = 2}, 22050, 2);
    ASSERT_GT(pcm.size(), static_cast<size_t>(kSampleRate));
    const auto r =
        analyze_tone(trim_silence(std::span(pcm).subspan(kSampleRate / 4)), kSampleRate, 1000.0);
    EXPECT_NEAR(r.peak_hz, 1000.0, 3.0);
    EXPECT_GT(r.snr_db, 10.0);
}

TEST_F(VirtualAlsaDevice, SpecsSelectByNameAndIndex) {
    std::error_code ec;
    const auto devices = list_audio_devices(ec);
    const auto speaker = std::find_if(devices.begin(), devices.end(), [](const AudioDeviceInfo& d) {
        return d.name == "p2psip_speaker";
    });
    ASSERT_NE(speaker, devices.end());
    {
        PacedFifoReader device(dir_ + "/speaker_48000_1.raw", 48000, 1);
        // Case-insensitive substring.
        auto sink = open_sink("pa:SPEAKER", ec);
        ASSERT_TRUE(sink) << ec.message();
        EXPECT_FALSE(ec);
        auto* pa = dynamic_cast<PortAudioSink*>(sink.get());
        ASSERT_NE(pa, nullptr);
        EXPECT_EQ(pa->device_index(), speaker->index);
        sink.reset();
        // By index.
        sink = open_sink("pa:" + std::to_string(speaker->index), ec);
        ASSERT_TRUE(sink) << ec.message();
        EXPECT_EQ(dynamic_cast<PortAudioSink*>(sink.get())->device_index(), speaker->index);
        sink.reset();
    }
    {
        auto src = open_source("pa:p2psip_mic", ec);
        ASSERT_TRUE(src) << ec.message();
        EXPECT_NE(dynamic_cast<PortAudioSource*>(src.get()), nullptr);
        PacedToneWriter mic(mic_fd_, 48000, 1);
        src.reset();
    }
}

TEST_F(VirtualAlsaDevice, BadSelectorsFailWithoutLeaks) {
    struct stat before {
    }, after{};
    ASSERT_EQ(::fstat(STDERR_FILENO, &before), 0);
    std::error_code ec;
    (void)list_audio_devices(ec);  // let PortAudio and ALSA settle their one-time state
    const size_t fds = open_fd_count();
    for (const char* spec : {"pa:", "pa:no-such-device", "pa:9999", "pa:-1"}) {
        EXPECT_EQ(open_source(spec, ec), nullptr) << spec;
        EXPECT_EQ(ec, errc::bad_device_spec) << spec;
        EXPECT_EQ(open_sink(spec, ec), nullptr) << spec;
        EXPECT_EQ(ec, errc::bad_device_spec) << spec;
    }
    // Wrong direction: the device exists but has no input channels.
    EXPECT_EQ(open_source("pa:p2psip_outonly", ec), nullptr);
    EXPECT_EQ(ec, errc::bad_device_spec);
    EXPECT_EQ(PortAudioSource::open({.device = "p2psip_outonly"}, ec), nullptr);
    EXPECT_EQ(ec, errc::bad_device_spec);
    // More channels than the device has.
    EXPECT_EQ(PortAudioSink::open({.device = "p2psip_speaker", .channels = 100000}, ec), nullptr);
    EXPECT_EQ(ec, errc::invalid_argument);
    EXPECT_EQ(open_fd_count(), fds);
    ASSERT_EQ(::fstat(STDERR_FILENO, &after), 0);
    EXPECT_EQ(before.st_dev, after.st_dev);
    EXPECT_EQ(before.st_ino, after.st_ino);
}

}  // namespace p2psip::media
