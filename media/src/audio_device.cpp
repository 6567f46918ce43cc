#include "p2psip/media/audio_device.hpp"

#include <fcntl.h>
#include <portaudio.h>
#include <sndfile.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <numbers>

#include "p2psip/media/codec.hpp"
#include "p2psip/media/error.hpp"
#include "spsc_ring.hpp"

namespace p2psip::media {
namespace {

// Redirects fd 2 to /dev/null while alive: PortAudio's ALSA/JACK back ends print probe noise.
// Process-wide, so kept to the short probe/open calls.
class StderrSilencer {
  public:
    StderrSilencer() {
        std::fflush(stderr);
        saved_ = ::dup(STDERR_FILENO);
        const int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (saved_ >= 0 && devnull >= 0) ::dup2(devnull, STDERR_FILENO);
        if (devnull >= 0) ::close(devnull);
    }
    ~StderrSilencer() {
        std::fflush(stderr);
        if (saved_ >= 0) {
            ::dup2(saved_, STDERR_FILENO);
            ::close(saved_);
        }
    }
    StderrSilencer(const StderrSilencer&) = delete;
    StderrSilencer& operator=(const StderrSilencer&) = delete;

  private:
    int saved_ = -1;
};

// Pa_Initialize/Pa_Terminate are reference counted by PortAudio; this pairs them.
class PaSession {
  public:
    PaSession() {
        StderrSilencer quiet;
        ok_ = Pa_Initialize() == paNoError;
    }
    ~PaSession() {
        if (ok_) {
            StderrSilencer quiet;
            Pa_Terminate();
        }
    }
    PaSession(const PaSession&) = delete;
    PaSession& operator=(const PaSession&) = delete;
    bool ok() const { return ok_; }

  private:
    bool ok_ = false;
};

int16_t to_i16(double v) {
    return static_cast<int16_t>(std::clamp(std::lround(v * 32767.0), -32768L, 32767L));
}

constexpr size_t kRingSamples = 1u << 14;  // ~340 ms at 48 kHz
constexpr size_t kMaxQueuedCapture = 4 * kFrameSamples;

}  // namespace

bool NullSource::read(std::span<int16_t> frame) {
    std::fill(frame.begin(), frame.end(), int16_t{0});
    return true;
}

ToneSource::ToneSource(double freq_hz, double amplitude)
    : step_(2 * std::numbers::pi * freq_hz / kSampleRate),
      amplitude_(std::clamp(amplitude, 0.0, 1.0)) {}

bool ToneSource::read(std::span<int16_t> frame) {
    for (auto& s : frame) {
        s = to_i16(amplitude_ * std::sin(phase_));
        phase_ += step_;
        if (phase_ >= 2 * std::numbers::pi) phase_ -= 2 * std::numbers::pi;
    }
    return true;
}

std::unique_ptr<WavFileSource> WavFileSource::open(const std::string& path,
                                                   WavSourceOptions options, std::error_code& ec) {
    SF_INFO info{};
    SNDFILE* f = sf_open(path.c_str(), SFM_READ, &info);
    if (!f) {
        ec = errc::file_open_failed;
        return nullptr;
    }
    if (info.channels <= 0 || info.samplerate <= 0) {
        sf_close(f);
        ec = errc::file_io_failed;
        return nullptr;
    }
    // Decode and down-mix to mono float at the file's rate.
    std::vector<float> mono;
    mono.reserve(static_cast<size_t>(std::max<sf_count_t>(info.frames, 0)));
    std::vector<float> chunk(4096 * static_cast<size_t>(info.channels));
    for (;;) {
        const sf_count_t got = sf_readf_float(f, chunk.data(), 4096);
        if (got <= 0) break;
        for (sf_count_t i = 0; i < got; ++i) {
            float sum = 0;
            for (int c = 0; c < info.channels; ++c) sum += chunk[i * info.channels + c];
            mono.push_back(sum / static_cast<float>(info.channels));
        }
    }
    const bool read_error = sf_error(f) != SF_ERR_NO_ERROR;
    sf_close(f);
    if (read_error) {
        ec = errc::file_io_failed;
        return nullptr;
    }

    std::unique_ptr<WavFileSource> src(new WavFileSource());
    src->loop_ = options.loop;
    src->file_rate_ = info.samplerate;
    src->file_channels_ = info.channels;
    if (info.samplerate == kSampleRate) {
        src->pcm_.resize(mono.size());
        for (size_t i = 0; i < mono.size(); ++i) src->pcm_[i] = to_i16(mono[i]);
    } else if (!mono.empty()) {
        // Linear interpolation: adequate for speech prompts and test tones.
        const double ratio = static_cast<double>(info.samplerate) / kSampleRate;
        const size_t outs = static_cast<size_t>(std::floor((mono.size() - 1) / ratio)) + 1;
        src->pcm_.resize(outs);
        for (size_t i = 0; i < outs; ++i) {
            const double pos = i * ratio;
            const size_t k = static_cast<size_t>(pos);
            const double frac = pos - static_cast<double>(k);
            const double a = mono[k];
            const double b = k + 1 < mono.size() ? mono[k + 1] : a;
            src->pcm_[i] = to_i16(a + (b - a) * frac);
        }
    }
    ec.clear();
    return src;
}

bool WavFileSource::read(std::span<int16_t> frame) {
    size_t filled = 0;
    while (filled < frame.size()) {
        if (pos_ >= pcm_.size()) {
            if (!loop_ || pcm_.empty()) break;
            pos_ = 0;
        }
        const size_t n = std::min(frame.size() - filled, pcm_.size() - pos_);
        std::copy_n(pcm_.begin() + static_cast<std::ptrdiff_t>(pos_), n, frame.begin() + filled);
        pos_ += n;
        filled += n;
    }
    std::fill(frame.begin() + filled, frame.end(), int16_t{0});
    return filled > 0 || frame.empty();
}

std::unique_ptr<WavFileSink> WavFileSink::open(const std::string& path, std::error_code& ec) {
    SF_INFO info{};
    info.samplerate = kSampleRate;
    info.channels = 1;
    info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
    if (!f) {
        ec = errc::file_open_failed;
        return nullptr;
    }
    std::unique_ptr<WavFileSink> sink(new WavFileSink());
    sink->file_ = f;
    ec.clear();
    return sink;
}

WavFileSink::~WavFileSink() {
    (void)close();
}

void WavFileSink::write(std::span<const int16_t> frame) {
    if (!file_ || frame.empty()) return;
    const sf_count_t n = sf_writef_short(static_cast<SNDFILE*>(file_), frame.data(),
                                         static_cast<sf_count_t>(frame.size()));
    if (n > 0) written_ += static_cast<uint64_t>(n);
    if (n != static_cast<sf_count_t>(frame.size()) && !error_) error_ = errc::file_io_failed;
}

std::error_code WavFileSink::close() {
    if (!file_) return error_;
    if (sf_close(static_cast<SNDFILE*>(file_)) != 0 && !error_) error_ = errc::file_io_failed;
    file_ = nullptr;
    return error_;
}

// ---- PortAudio -------------------------------------------------------------------------------

namespace {

bool probe(bool input) {
    PaSession pa;
    if (!pa.ok()) return false;
    StderrSilencer quiet;
    const PaDeviceIndex dev = input ? Pa_GetDefaultInputDevice() : Pa_GetDefaultOutputDevice();
    return dev != paNoDevice;
}

}  // namespace

bool portaudio_input_available() {
    return probe(true);
}
bool portaudio_output_available() {
    return probe(false);
}
bool portaudio_available() {
    return portaudio_input_available() && portaudio_output_available();
}

// Opens and starts the default device's stream for a source (1 in) or sink (1 out) Impl.
template <typename Impl>
std::error_code start_default_stream(Impl& impl, int inputs, int outputs) {
    if (!impl.pa.ok()) return errc::audio_device_failure;
    StderrSilencer quiet;  // ALSA/JACK probing noise stays off the user's terminal
    const PaDeviceIndex device = inputs ? Pa_GetDefaultInputDevice() : Pa_GetDefaultOutputDevice();
    if (device == paNoDevice) return errc::no_audio_device;
    if (Pa_OpenDefaultStream(&impl.stream, inputs, outputs, paInt16, kSampleRate, kFrameSamples,
                             &Impl::callback, &impl) != paNoError) {
        impl.stream = nullptr;
        return errc::audio_device_failure;
    }
    if (Pa_StartStream(impl.stream) != paNoError) return errc::audio_device_failure;
    return {};
}

struct PortAudioSource::Impl {
    PaSession pa;
    PaStream* stream = nullptr;
    detail::SpscRing ring{kRingSamples};
    std::vector<int16_t> scratch = std::vector<int16_t>(kRingSamples);

    ~Impl() {
        if (stream) {
            StderrSilencer quiet;
            Pa_StopStream(stream);
            Pa_CloseStream(stream);
        }
    }
    static int callback(const void* in, void*, unsigned long frames,
                        const PaStreamCallbackTimeInfo*, PaStreamCallbackFlags, void* user) {
        auto* self = static_cast<Impl*>(user);
        if (in) self->ring.push({static_cast<const int16_t*>(in), frames});
        return paContinue;
    }
};

PortAudioSource::PortAudioSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PortAudioSource::~PortAudioSource() = default;

std::unique_ptr<PortAudioSource> PortAudioSource::open(std::error_code& ec) {
    auto impl = std::make_unique<Impl>();
    ec = start_default_stream(*impl, 1, 0);
    if (ec) return nullptr;
    return std::unique_ptr<PortAudioSource>(new PortAudioSource(std::move(impl)));
}

bool PortAudioSource::read(std::span<int16_t> frame) {
    // Bound capture latency: drop what piled up beyond a few frames.
    auto& ring = impl_->ring;
    while (ring.size() > kMaxQueuedCapture + frame.size()) {
        const size_t extra = ring.size() - kMaxQueuedCapture - frame.size();
        ring.pop(std::span(impl_->scratch).first(std::min(extra, impl_->scratch.size())));
    }
    const size_t got = ring.pop(frame);
    std::fill(frame.begin() + got, frame.end(), int16_t{0});
    return true;
}

struct PortAudioSink::Impl {
    PaSession pa;
    PaStream* stream = nullptr;
    detail::SpscRing ring{kRingSamples};

    ~Impl() {
        if (stream) {
            StderrSilencer quiet;
            Pa_StopStream(stream);
            Pa_CloseStream(stream);
        }
    }
    static int callback(const void*, void* out, unsigned long frames,
                        const PaStreamCallbackTimeInfo*, PaStreamCallbackFlags, void* user) {
        auto* self = static_cast<Impl*>(user);
        std::span<int16_t> dst(static_cast<int16_t*>(out), frames);
        const size_t got = self->ring.pop(dst);
        std::fill(dst.begin() + got, dst.end(), int16_t{0});
        return paContinue;
    }
};

PortAudioSink::PortAudioSink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PortAudioSink::~PortAudioSink() = default;

std::unique_ptr<PortAudioSink> PortAudioSink::open(std::error_code& ec) {
    auto impl = std::make_unique<Impl>();
    ec = start_default_stream(*impl, 0, 1);
    if (ec) return nullptr;
    return std::unique_ptr<PortAudioSink>(new PortAudioSink(std::move(impl)));
}

void PortAudioSink::write(std::span<const int16_t> frame) {
    impl_->ring.push(frame);
}

// ---- factories -------------------------------------------------------------------------------

namespace {

bool parse_double(std::string_view s, double& out) {
    if (s.empty()) return false;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && p == s.data() + s.size();
}

}  // namespace

std::unique_ptr<AudioSource> open_source(std::string_view spec, std::error_code& ec) {
    if (spec == "null") {
        ec.clear();
        return std::make_unique<NullSource>();
    }
    if (spec.starts_with("tone:")) {
        std::string_view rest = spec.substr(5);
        const size_t colon = rest.find(':');
        double freq = 0, amp = 0.3;
        if (!parse_double(rest.substr(0, colon), freq) || freq <= 0 || freq >= kSampleRate / 2 ||
            (colon != std::string_view::npos &&
             (!parse_double(rest.substr(colon + 1), amp) || amp < 0 || amp > 1))) {
            ec = errc::bad_device_spec;
            return nullptr;
        }
        ec.clear();
        return std::make_unique<ToneSource>(freq, amp);
    }
    if (spec.starts_with("wav:") || spec.starts_with("wavloop:")) {
        const bool loop = spec.starts_with("wavloop:");
        const std::string path(spec.substr(loop ? 8 : 4));
        if (path.empty()) {
            ec = errc::bad_device_spec;
            return nullptr;
        }
        return WavFileSource::open(path, WavSourceOptions{loop}, ec);
    }
    if (spec == "default") {
        if (portaudio_input_available()) {
            auto dev = PortAudioSource::open(ec);
            if (dev) return dev;
        }
        ec = errc::no_audio_device;
        return std::make_unique<NullSource>();
    }
    ec = errc::bad_device_spec;
    return nullptr;
}

std::unique_ptr<AudioSink> open_sink(std::string_view spec, std::error_code& ec) {
    if (spec == "null") {
        ec.clear();
        return std::make_unique<NullSink>();
    }
    if (spec.starts_with("wav:")) {
        const std::string path(spec.substr(4));
        if (path.empty()) {
            ec = errc::bad_device_spec;
            return nullptr;
        }
        return WavFileSink::open(path, ec);
    }
    if (spec == "default") {
        if (portaudio_output_available()) {
            auto dev = PortAudioSink::open(ec);
            if (dev) return dev;
        }
        ec = errc::no_audio_device;
        return std::make_unique<NullSink>();
    }
    ec = errc::bad_device_spec;
    return nullptr;
}

}  // namespace p2psip::media
