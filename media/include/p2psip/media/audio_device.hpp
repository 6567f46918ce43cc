#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace p2psip::media {

// Audio endpoints exchange 48 kHz mono int16 frames (normally kFrameSamples = 960, 20 ms).
// They are driven from the io_context thread and must not block.
class AudioSource {
  public:
    virtual ~AudioSource() = default;
    // Fills the whole frame. Returns false once the source has ended (the frame is then silence).
    virtual bool read(std::span<int16_t> frame) = 0;
};

class AudioSink {
  public:
    virtual ~AudioSink() = default;
    virtual void write(std::span<const int16_t> frame) = 0;
};

class NullSource final : public AudioSource {
  public:
    bool read(std::span<int16_t> frame) override;
};

class NullSink final : public AudioSink {
  public:
    void write(std::span<const int16_t> frame) override { samples_ += frame.size(); }
    uint64_t samples_written() const { return samples_; }

  private:
    uint64_t samples_ = 0;
};

// A continuous sine; amplitude is a fraction of full scale (0..1).
class ToneSource final : public AudioSource {
  public:
    explicit ToneSource(double freq_hz, double amplitude = 0.3);
    bool read(std::span<int16_t> frame) override;

  private:
    double phase_ = 0;
    double step_;
    double amplitude_;
};

struct WavSourceOptions {
    bool loop = false;  // false: silence (read() == false) after the end
};

// Any file libsndfile reads; decoded into memory at open, down-mixed to mono and resampled
// (speexdsp, best quality) to 48 kHz if needed.
class WavFileSource final : public AudioSource {
  public:
    static std::unique_ptr<WavFileSource> open(const std::string& path, WavSourceOptions options,
                                               std::error_code& ec);
    bool read(std::span<int16_t> frame) override;
    size_t total_samples() const { return pcm_.size(); }  // at 48 kHz
    int file_sample_rate() const { return file_rate_; }
    int file_channels() const { return file_channels_; }

  private:
    WavFileSource() = default;
    std::vector<int16_t> pcm_;
    size_t pos_ = 0;
    bool loop_ = false;
    int file_rate_ = 0;
    int file_channels_ = 0;
};

// Writes a 48 kHz mono 16-bit PCM WAV. The header is finalised by close() or the destructor.
class WavFileSink final : public AudioSink {
  public:
    static std::unique_ptr<WavFileSink> open(const std::string& path, std::error_code& ec);
    ~WavFileSink() override;
    WavFileSink(const WavFileSink&) = delete;
    WavFileSink& operator=(const WavFileSink&) = delete;
    void write(std::span<const int16_t> frame) override;
    std::error_code close();
    uint64_t samples_written() const { return written_; }
    std::error_code error() const { return error_; }  // first write error, if any

  private:
    WavFileSink() = default;
    void* file_ = nullptr;  // SNDFILE*
    uint64_t written_ = 0;
    std::error_code error_;
};

// One PortAudio device as enumerated by list_audio_devices().
struct AudioDeviceInfo {
    int index = -1;  // PortAudio device index, valid until the device set changes
    std::string name;
    std::string host_api;  // "ALSA", "JACK Audio Connection Kit", ...
    int max_input_channels = 0;
    int max_output_channels = 0;
    double default_sample_rate = 0;
    bool default_input = false;   // PortAudio's default input device
    bool default_output = false;  // PortAudio's default output device
};

// All PortAudio devices. errc::audio_device_failure if PortAudio does not initialise.
// PortAudio's ALSA/JACK probe noise on stderr is silenced while it runs.
std::vector<AudioDeviceInfo> list_audio_devices(std::error_code& ec);

// PortAudio default devices. Probing silences stderr (ALSA/JACK noise) for its duration.
bool portaudio_input_available();
bool portaudio_output_available();
bool portaudio_available();  // both a default input and a default output exist

struct PortAudioOptions {
    // "" or "default": PortAudio's default device for the direction; "<index>" (see
    // list_audio_devices); otherwise a case-insensitive name: an exact match first, else the
    // first device whose name contains it. The device must have channels in the direction.
    std::string device;
    // 0: 48 kHz if the device supports it, else the device's default rate (resampled to and
    // from 48 kHz with speexdsp). Otherwise that rate (it must be supported).
    int sample_rate = 0;
    // 0: mono if the device supports it, else stereo (down-/up-mixed). Otherwise that count.
    int channels = 0;
};

// Callback-driven streams joined to the io_context side by lock-free SPSC rings, so read()/write()
// never block: read() gives silence on underrun, write() drops on overrun. The io_context side
// always sees 48 kHz mono. Errors: errc::no_audio_device (no default device),
// errc::bad_device_spec (unknown device, or none with channels in this direction),
// errc::audio_device_failure (PortAudio refused the rate/channels or the stream),
// errc::invalid_argument (negative rate, or more channels than the device has).
class PortAudioSource final : public AudioSource {
  public:
    static std::unique_ptr<PortAudioSource> open(std::error_code& ec);  // the default device
    static std::unique_ptr<PortAudioSource> open(const PortAudioOptions& options,
                                                 std::error_code& ec);
    ~PortAudioSource() override;
    bool read(std::span<int16_t> frame) override;
    int device_index() const;
    int device_rate() const;  // the stream's rate at the device
    int device_channels() const;
    struct Impl;

  private:
    explicit PortAudioSource(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

class PortAudioSink final : public AudioSink {
  public:
    static std::unique_ptr<PortAudioSink> open(std::error_code& ec);  // the default device
    static std::unique_ptr<PortAudioSink> open(const PortAudioOptions& options,
                                               std::error_code& ec);
    ~PortAudioSink() override;
    void write(std::span<const int16_t> frame) override;
    int device_index() const;
    int device_rate() const;
    int device_channels() const;
    struct Impl;

  private:
    explicit PortAudioSink(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// Specs: "null", "tone:<hz>[:<amplitude>]", "wav:<path>", "wavloop:<path>" (source only),
// "default" (PortAudio default device), "pa:<index>" or "pa:<name>" (a PortAudio device, see
// PortAudioOptions::device). For "default" without a device a Null source/sink is returned
// together with errc::no_audio_device. Other failures (also for "pa:") return nullptr and set ec.
std::unique_ptr<AudioSource> open_source(std::string_view spec, std::error_code& ec);
std::unique_ptr<AudioSink> open_sink(std::string_view spec, std::error_code& ec);

}  // namespace p2psip::media
