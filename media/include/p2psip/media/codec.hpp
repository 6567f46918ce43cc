#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace p2psip::media {

// Internal audio format of the media layer: 48 kHz, mono, int16, 20 ms frames.
inline constexpr int kSampleRate = 48000;
inline constexpr int kFrameMs = 20;
inline constexpr size_t kFrameSamples = 960;
// Largest decode result (a 120 ms Opus packet); size decode buffers with this.
inline constexpr size_t kMaxDecodedSamples = 5760;
// Largest encoded 20 ms frame we produce (RFC 6716 §3.4: an Opus frame is at most 1275 bytes).
inline constexpr size_t kMaxEncodedFrame = 1275;

// What SDP needs about a codec (RFC 4566 a=rtpmap / a=fmtp).
struct CodecInfo {
    std::string_view name;    // encoding name as in a=rtpmap: "opus", "PCMU", "PCMA"
    uint32_t clock_rate;      // RTP clock: 48000 for Opus, 8000 for PCMU/PCMA
    int channels;             // a=rtpmap channels: 2 for Opus (RFC 7587 §7), 1 for G.711
    int static_payload_type;  // RFC 3551 static PT, or -1 (dynamic)
    std::string_view fmtp;    // suggested a=fmtp parameters ("" if none)
    uint32_t timestamp_step;  // RTP timestamp increment per 20 ms frame
};

// Looks a codec up by "opus", "opus/48000/2", "PCMU", "pcmu/8000", "PCMA", "PCMA/8000"
// (case-insensitive). PCMU and PCMA are RFC 3551 static payload types 0 and 8.
std::optional<CodecInfo> find_codec(std::string_view name);
// "opus/48000/2", "PCMU/8000": the a=rtpmap encoding part.
std::string rtpmap_string(const CodecInfo& info);

class AudioEncoder {
  public:
    virtual ~AudioEncoder() = default;
    virtual const CodecInfo& info() const = 0;
    // Encodes one frame of exactly kFrameSamples samples (48 kHz mono) into `out`.
    virtual std::error_code encode(std::span<const int16_t> pcm, std::span<uint8_t> out,
                                   size_t& written) = 0;
};

class AudioDecoder {
  public:
    virtual ~AudioDecoder() = default;
    virtual const CodecInfo& info() const = 0;
    // Decodes one RTP payload into 48 kHz mono samples; `samples` is set to the count written.
    virtual std::error_code decode(std::span<const uint8_t> payload, std::span<int16_t> pcm,
                                   size_t& samples) = 0;
    // Packet loss concealment: produces kFrameSamples samples for a missing frame.
    virtual std::error_code conceal(std::span<int16_t> pcm, size_t& samples) = 0;
    // A missing frame whose successor is already here: Opus uses the successor's in-band FEC
    // (RFC 6716 §2.1.7); other codecs fall back to conceal(). Produces kFrameSamples samples.
    virtual std::error_code recover(std::span<const uint8_t> next_payload, std::span<int16_t> pcm,
                                    size_t& samples) {
        (void)next_payload;
        return conceal(pcm, samples);
    }
};

struct OpusOptions {
    int bitrate = 32000;             // bit/s
    bool inband_fec = true;          // RFC 6716 §2.1.7 LBRR
    int expected_loss_percent = 10;  // FEC is only emitted when this is > 0
    bool dtx = false;
    int complexity = 5;  // 0..10; moderate to leave CPU for the rest of the node
};

// Factory by name (see find_codec). nullptr + errc::unsupported_codec for unknown names.
std::unique_ptr<AudioEncoder> make_encoder(std::string_view name, std::error_code& ec);
std::unique_ptr<AudioDecoder> make_decoder(std::string_view name, std::error_code& ec);
std::unique_ptr<AudioEncoder> make_opus_encoder(const OpusOptions& options, std::error_code& ec);
std::unique_ptr<AudioDecoder> make_opus_decoder(std::error_code& ec);
std::unique_ptr<AudioEncoder> make_pcmu_encoder();
std::unique_ptr<AudioDecoder> make_pcmu_decoder();
std::unique_ptr<AudioEncoder> make_pcma_encoder();
std::unique_ptr<AudioDecoder> make_pcma_decoder();

// G.711 µ-law and A-law (ITU-T G.711 §3/§2), exposed for tests.
uint8_t linear_to_ulaw(int16_t sample) noexcept;
int16_t ulaw_to_linear(uint8_t code) noexcept;
uint8_t linear_to_alaw(int16_t sample) noexcept;
int16_t alaw_to_linear(uint8_t code) noexcept;

}  // namespace p2psip::media
