#include "p2psip/media/audio_device.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <portaudio.h>
#include <sndfile.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <numbers>
#include <optional>

#include "p2psip/media/codec.hpp"
#include "p2psip/media/error.hpp"
#include "speex_resampler.hpp"
#include "spsc_ring.hpp"

namespace p2psip::media {
namespace {

// Redirects fd 2 to /dev/null while alive: PortAudio's ALSA/JACK back ends print probe noise
// during Pa_Initialize, stream open/start and stop/close. This is the one place that does it.
// Process-wide, so kept to those short calls; nested or concurrent silencers share one saved
// descriptor (reference counted), so the last one out always restores the real stderr.
class StderrSilencer {
  public:
    StderrSilencer() {
        std::lock_guard lock(state().mutex);
        if (state().depth++ > 0) return;
        std::fflush(stderr);
        state().saved = ::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
        const int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (state().saved >= 0 && devnull >= 0) ::dup2(devnull, STDERR_FILENO);
        if (devnull >= 0) ::close(devnull);
    }
    ~StderrSilencer() {
        std::lock_guard lock(state().mutex);
        if (--state().depth > 0) return;
        std::fflush(stderr);
        if (state().saved >= 0) {
            ::dup2(state().saved, STDERR_FILENO);
            ::close(state().saved);
            state().saved = -1;
        }
    }
    StderrSilencer(const StderrSilencer&) = delete;
    StderrSilencer& operator=(const StderrSilencer&) = delete;

  private:
    struct State {
        std::mutex mutex;
        int depth = 0;
        int saved = -1;
    };
    static State& state() {
        static State s;
        return s;
    }
};

// ALSA and JACK also print from PortAudio's stream thread (xruns, server gone), where fd 2 cannot
// be redirected without hiding our own messages. Their libraries are loaded with PortAudio, so
// their message hooks are found with dlsym (no link dependency) and pointed at no-ops, once.
void alsa_quiet(const char*, int, const char*, int, const char*, ...) {}
void jack_quiet(const char*) {}

void quiet_backend_hooks() {
    static std::once_flag once;
    std::call_once(once, [] {
        using AlsaHandler = void (*)(const char*, int, const char*, int, const char*, ...);
        using JackHandler = void (*)(const char*);
        if (void* f = ::dlsym(RTLD_DEFAULT, "snd_lib_error_set_handler")) {
            reinterpret_cast<int (*)(AlsaHandler)>(f)(&alsa_quiet);
        }
        for (const char* name : {"jack_set_error_function", "jack_set_info_function"}) {
            if (void* f = ::dlsym(RTLD_DEFAULT, name)) {
                reinterpret_cast<void (*)(JackHandler)>(f)(&jack_quiet);
            }
        }
    });
}

// Pa_Initialize/Pa_Terminate are reference counted by PortAudio; this pairs them.
class PaSession {
  public:
    PaSession() {
        quiet_backend_hooks();
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
        // Whole file at once, best quality: this runs only at open.
        detail::SpeexResampler rs;
        if (const auto e = rs.init(info.samplerate, kSampleRate, 10)) {
            ec = e;
            return nullptr;
        }
        rs.skip_zeros();  // output starts with the first input sample, not the filter delay
        const auto expected = static_cast<size_t>(
            std::llround(static_cast<double>(mono.size()) * kSampleRate / info.samplerate));
        const std::vector<float> tail(static_cast<size_t>(std::max(rs.input_latency(), 0)));
        std::vector<float> out(rs.max_output(mono.size()) + rs.max_output(tail.size()));
        size_t produced = rs.process(std::span<const float>(mono), std::span<float>(out));
        // Zeros push the last real samples out of the filter.
        produced += rs.process(std::span<const float>(tail), std::span(out).subspan(produced));
        produced = std::min(produced, expected);
        src->pcm_.resize(produced);
        for (size_t i = 0; i < produced; ++i) src->pcm_[i] = to_i16(out[i]);
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

int channels_in(const PaDeviceInfo& info, bool input) {
    return input ? info.maxInputChannels : info.maxOutputChannels;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

bool icontains(std::string_view hay, std::string_view needle) {
    return std::search(hay.begin(), hay.end(), needle.begin(), needle.end(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           }) != hay.end();
}

// Maps a PortAudioOptions::device selector to a device with channels in the direction.
// Needs a live PaSession.
std::error_code resolve_device(std::string_view selector, bool input, PaDeviceIndex& out) {
    if (selector.empty() || selector == "default") {
        out = input ? Pa_GetDefaultInputDevice() : Pa_GetDefaultOutputDevice();
        return out == paNoDevice ? std::error_code(errc::no_audio_device) : std::error_code{};
    }
    const PaDeviceIndex count = Pa_GetDeviceCount();
    if (count < 0) return errc::audio_device_failure;
    int index = -1;
    const auto [p, fc] = std::from_chars(selector.data(), selector.data() + selector.size(), index);
    if (fc == std::errc{} && p == selector.data() + selector.size()) {
        const PaDeviceInfo* info = index < count ? Pa_GetDeviceInfo(index) : nullptr;
        if (!info || channels_in(*info, input) <= 0) return errc::bad_device_spec;
        out = index;
        return {};
    }
    PaDeviceIndex partial = paNoDevice;
    for (PaDeviceIndex i = 0; i < count; ++i) {
        const PaDeviceInfo* info = Pa_GetDeviceInfo(i);
        if (!info || !info->name || channels_in(*info, input) <= 0) continue;
        if (iequals(info->name, selector)) {
            out = i;
            return {};
        }
        if (partial == paNoDevice && icontains(info->name, selector)) partial = i;
    }
    if (partial == paNoDevice) return errc::bad_device_spec;
    out = partial;
    return {};
}

PaStreamParameters stream_params(PaDeviceIndex dev, bool input, int channels) {
    PaStreamParameters p{};
    p.device = dev;
    p.channelCount = channels;
    p.sampleFormat = paInt16;
    const PaDeviceInfo* info = Pa_GetDeviceInfo(dev);
    p.suggestedLatency =
        info ? (input ? info->defaultLowInputLatency : info->defaultLowOutputLatency) : 0.05;
    p.hostApiSpecificStreamInfo = nullptr;
    return p;
}

bool supported(PaDeviceIndex dev, bool input, int channels, int rate) {
    const PaStreamParameters p = stream_params(dev, input, channels);
    return Pa_IsFormatSupported(input ? &p : nullptr, input ? nullptr : &p, rate) ==
           paFormatIsSupported;
}

// Rate: 48 kHz when the device takes it (no resampling), else its default rate. Channels: mono,
// else stereo (mixed in the callback).
std::error_code choose_format(PaDeviceIndex dev, bool input, const PortAudioOptions& options,
                              int& rate, int& channels) {
    const PaDeviceInfo* info = Pa_GetDeviceInfo(dev);
    if (!info) return errc::bad_device_spec;
    const int max_channels = channels_in(*info, input);
    if (options.sample_rate < 0 || options.channels < 0 || options.channels > max_channels) {
        return errc::invalid_argument;
    }
    std::vector<int> rates;
    if (options.sample_rate > 0) {
        rates = {options.sample_rate};
    } else {
        rates = {kSampleRate, static_cast<int>(std::lround(info->defaultSampleRate))};
    }
    std::vector<int> counts;
    if (options.channels > 0) {
        counts = {options.channels};
    } else {
        counts = {1};
        if (max_channels >= 2) counts.push_back(2);
    }
    for (const int r : rates) {
        if (r <= 0) continue;
        for (const int c : counts) {
            if (supported(dev, input, c, r)) {
                rate = r;
                channels = c;
                return {};
            }
        }
    }
    return errc::audio_device_failure;
}

// Ring of device-rate mono samples: about a third of a second, like the 48 kHz original.
size_t ring_capacity(int rate) {
    size_t n = 4096;
    while (n < static_cast<size_t>(rate) / 3) n <<= 1;
    return n;
}

// Live streams: speexdsp quality 5 (its VoIP default) keeps the per-frame cost low.
constexpr int kStreamResampleQuality = 5;

// Opens and starts the stream of a source (input) or sink (output) Impl. The Impl's destructor
// stops and closes whatever got opened, so every early return leaks nothing.
template <typename Impl>
std::error_code start_stream(Impl& impl, const PortAudioOptions& options, bool input) {
    if (!impl.pa.ok()) return errc::audio_device_failure;
    StderrSilencer quiet;  // ALSA/JACK probing noise stays off the user's terminal
    PaDeviceIndex dev = paNoDevice;
    if (auto ec = resolve_device(options.device, input, dev)) return ec;
    int rate = 0, channels = 0;
    if (auto ec = choose_format(dev, input, options, rate, channels)) return ec;
    if (auto ec = impl.prepare(rate, channels)) return ec;
    impl.device = dev;
    const PaStreamParameters p = stream_params(dev, input, channels);
    // 20 ms callbacks when the rate allows it, like the io_context side's frames.
    const unsigned long frames_per_buffer =
        rate % 50 == 0 ? static_cast<unsigned long>(rate / 50) : paFramesPerBufferUnspecified;
    if (Pa_OpenStream(&impl.stream, input ? &p : nullptr, input ? nullptr : &p, rate,
                      frames_per_buffer, paClipOff, &Impl::callback, &impl) != paNoError) {
        impl.stream = nullptr;
        return errc::audio_device_failure;
    }
    if (Pa_StartStream(impl.stream) != paNoError) return errc::audio_device_failure;
    return {};
}

void close_stream(PaStream*& stream) {
    if (!stream) return;
    StderrSilencer quiet;
    Pa_StopStream(stream);
    Pa_CloseStream(stream);
    stream = nullptr;
}

}  // namespace

std::vector<AudioDeviceInfo> list_audio_devices(std::error_code& ec) {
    std::vector<AudioDeviceInfo> out;
    PaSession pa;
    if (!pa.ok()) {
        ec = errc::audio_device_failure;
        return out;
    }
    StderrSilencer quiet;
    const PaDeviceIndex count = Pa_GetDeviceCount();
    if (count < 0) {
        ec = errc::audio_device_failure;
        return out;
    }
    const PaDeviceIndex def_in = Pa_GetDefaultInputDevice();
    const PaDeviceIndex def_out = Pa_GetDefaultOutputDevice();
    for (PaDeviceIndex i = 0; i < count; ++i) {
        const PaDeviceInfo* info = Pa_GetDeviceInfo(i);
        if (!info) continue;
        const PaHostApiInfo* api = Pa_GetHostApiInfo(info->hostApi);
        AudioDeviceInfo d;
        d.index = i;
        d.name = info->name ? info->name : "";
        d.host_api = api && api->name ? api->name : "";
        d.max_input_channels = info->maxInputChannels;
        d.max_output_channels = info->maxOutputChannels;
        d.default_sample_rate = info->defaultSampleRate;
        d.default_input = i == def_in;
        d.default_output = i == def_out;
        out.push_back(std::move(d));
    }
    ec.clear();
    return out;
}

bool portaudio_input_available() {
    return probe(true);
}
bool portaudio_output_available() {
    return probe(false);
}
bool portaudio_available() {
    return portaudio_input_available() && portaudio_output_available();
}

// Resampling happens on the io_context side of the rings (in read()/write()), not in the
// callback: the rings carry device-rate mono samples, the callback only copies and mixes
// channels, and the resampler state belongs to one thread. speexdsp would not block or allocate
// either, but this keeps the real-time callback minimal and its cost independent of the rate.
struct PortAudioSource::Impl {
    PaSession pa;
    PaStream* stream = nullptr;
    PaDeviceIndex device = paNoDevice;
    int rate = kSampleRate;
    int channels = 1;
    std::optional<detail::SpscRing> ring;  // device-rate mono, callback -> read()
    detail::SpeexResampler resampler;      // device rate -> 48 kHz, unless the device runs at 48
    std::vector<int16_t> in;               // device-rate samples popped for resampling
    std::vector<int16_t> out;              // resampled 48 kHz samples not yet read
    size_t out_pos = 0;
    size_t out_len = 0;
    std::vector<int16_t> scratch;  // where excess capture is dropped

    // All allocation happens here, before the stream starts.
    std::error_code prepare(int device_rate, int device_channels) {
        rate = device_rate;
        channels = device_channels;
        ring.emplace(ring_capacity(rate));
        scratch.assign(ring->capacity(), 0);
        if (rate != kSampleRate) {
            if (auto ec = resampler.init(rate, kSampleRate, kStreamResampleQuality)) return ec;
            in.assign(resampler.input_for(kFrameSamples) + 2, 0);
            out.assign(resampler.max_output(in.size()), 0);
        }
        return {};
    }
    ~Impl() { close_stream(stream); }

    static int callback(const void* input, void*, unsigned long frames,
                        const PaStreamCallbackTimeInfo*, PaStreamCallbackFlags, void* user) {
        auto* self = static_cast<Impl*>(user);
        if (!input) return paContinue;
        const auto* src = static_cast<const int16_t*>(input);
        if (self->channels == 1) {
            self->ring->push({src, frames});
            return paContinue;
        }
        // Down-mix to mono through a small stack buffer.
        std::array<int16_t, 256> mono;
        const auto ch = static_cast<size_t>(self->channels);
        for (size_t done = 0; done < frames;) {
            const size_t n = std::min<size_t>(mono.size(), frames - done);
            for (size_t i = 0; i < n; ++i) {
                int sum = 0;
                for (size_t c = 0; c < ch; ++c) sum += src[(done + i) * ch + c];
                mono[i] = static_cast<int16_t>(sum / static_cast<int>(ch));
            }
            self->ring->push(std::span<const int16_t>(mono.data(), n));
            done += n;
        }
        return paContinue;
    }

    size_t device_samples(size_t samples_48k) const {
        return static_cast<size_t>(static_cast<uint64_t>(samples_48k) * rate / kSampleRate);
    }
};

PortAudioSource::PortAudioSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PortAudioSource::~PortAudioSource() = default;

std::unique_ptr<PortAudioSource> PortAudioSource::open(std::error_code& ec) {
    return open(PortAudioOptions{}, ec);
}

std::unique_ptr<PortAudioSource> PortAudioSource::open(const PortAudioOptions& options,
                                                       std::error_code& ec) {
    auto impl = std::make_unique<Impl>();
    ec = start_stream(*impl, options, true);
    if (ec) return nullptr;
    return std::unique_ptr<PortAudioSource>(new PortAudioSource(std::move(impl)));
}

int PortAudioSource::device_index() const {
    return impl_->device;
}
int PortAudioSource::device_rate() const {
    return impl_->rate;
}
int PortAudioSource::device_channels() const {
    return impl_->channels;
}

bool PortAudioSource::read(std::span<int16_t> frame) {
    Impl& m = *impl_;
    auto& ring = *m.ring;
    // Bound capture latency: drop what piled up beyond a few frames.
    const size_t keep = m.device_samples(kMaxQueuedCapture + frame.size());
    while (ring.size() > keep) {
        const size_t extra = ring.size() - keep;
        ring.pop(std::span(m.scratch).first(std::min(extra, m.scratch.size())));
    }
    if (!m.resampler.ready()) {
        const size_t got = ring.pop(frame);
        std::fill(frame.begin() + static_cast<std::ptrdiff_t>(got), frame.end(), int16_t{0});
        return true;
    }
    size_t filled = 0;
    while (filled < frame.size()) {
        if (m.out_len == 0) {
            const size_t want =
                std::min(m.in.size(), m.resampler.input_for(frame.size() - filled) + 1);
            const size_t got = ring.pop(std::span(m.in).first(want));
            if (got == 0) break;  // underrun: the rest is silence
            m.out_pos = 0;
            m.out_len = m.resampler.process(std::span<const int16_t>(m.in).first(got), m.out);
            continue;
        }
        const size_t n = std::min(m.out_len, frame.size() - filled);
        std::copy_n(m.out.begin() + static_cast<std::ptrdiff_t>(m.out_pos), n,
                    frame.begin() + static_cast<std::ptrdiff_t>(filled));
        m.out_pos += n;
        m.out_len -= n;
        filled += n;
    }
    std::fill(frame.begin() + static_cast<std::ptrdiff_t>(filled), frame.end(), int16_t{0});
    return true;
}

struct PortAudioSink::Impl {
    PaSession pa;
    PaStream* stream = nullptr;
    PaDeviceIndex device = paNoDevice;
    int rate = kSampleRate;
    int channels = 1;
    std::optional<detail::SpscRing> ring;  // device-rate mono, write() -> callback
    detail::SpeexResampler resampler;      // 48 kHz -> device rate, unless the device runs at 48
    std::vector<int16_t> out;              // one resampled piece

    std::error_code prepare(int device_rate, int device_channels) {
        rate = device_rate;
        channels = device_channels;
        ring.emplace(ring_capacity(rate));
        if (rate != kSampleRate) {
            if (auto ec = resampler.init(kSampleRate, rate, kStreamResampleQuality)) return ec;
            out.assign(resampler.max_output(kFrameSamples), 0);
        }
        return {};
    }
    ~Impl() { close_stream(stream); }

    static int callback(const void*, void* output, unsigned long frames,
                        const PaStreamCallbackTimeInfo*, PaStreamCallbackFlags, void* user) {
        auto* self = static_cast<Impl*>(user);
        auto* dst = static_cast<int16_t*>(output);
        const size_t got = self->ring->pop({dst, frames});
        std::fill(dst + got, dst + frames, int16_t{0});
        if (self->channels > 1) {
            // Up-mix in place, from the back so no sample is overwritten before it is copied.
            const auto ch = static_cast<size_t>(self->channels);
            for (size_t i = frames; i-- > 0;) {
                const int16_t v = dst[i];
                for (size_t c = 0; c < ch; ++c) dst[i * ch + c] = v;
            }
        }
        return paContinue;
    }
};

PortAudioSink::PortAudioSink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PortAudioSink::~PortAudioSink() = default;

std::unique_ptr<PortAudioSink> PortAudioSink::open(std::error_code& ec) {
    return open(PortAudioOptions{}, ec);
}

std::unique_ptr<PortAudioSink> PortAudioSink::open(const PortAudioOptions& options,
                                                   std::error_code& ec) {
    auto impl = std::make_unique<Impl>();
    ec = start_stream(*impl, options, false);
    if (ec) return nullptr;
    return std::unique_ptr<PortAudioSink>(new PortAudioSink(std::move(impl)));
}

int PortAudioSink::device_index() const {
    return impl_->device;
}
int PortAudioSink::device_rate() const {
    return impl_->rate;
}
int PortAudioSink::device_channels() const {
    return impl_->channels;
}

void PortAudioSink::write(std::span<const int16_t> frame) {
    Impl& m = *impl_;
    if (!m.resampler.ready()) {
        m.ring->push(frame);
        return;
    }
    for (size_t off = 0; off < frame.size(); off += kFrameSamples) {
        const auto piece = frame.subspan(off, std::min(kFrameSamples, frame.size() - off));
        const size_t n = m.resampler.process(piece, m.out);
        m.ring->push(std::span<const int16_t>(m.out).first(n));
    }
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
    if (spec.starts_with("pa:")) {
        if (spec.size() == 3) {
            ec = errc::bad_device_spec;
            return nullptr;
        }
        return PortAudioSource::open(PortAudioOptions{.device = std::string(spec.substr(3))}, ec);
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
    if (spec.starts_with("pa:")) {
        if (spec.size() == 3) {
            ec = errc::bad_device_spec;
            return nullptr;
        }
        return PortAudioSink::open(PortAudioOptions{.device = std::string(spec.substr(3))}, ec);
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
