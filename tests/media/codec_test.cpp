#include "p2psip/media/codec.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "p2psip/media/audio_device.hpp"
#include "p2psip/media/error.hpp"
#include "p2psip/media/tone.hpp"

namespace p2psip::media {
namespace {

// Encodes `frames` frames of a 440 Hz tone and decodes them; returns the decoded 48 kHz audio.
std::vector<int16_t> round_trip(AudioEncoder& enc, AudioDecoder& dec, int frames,
                                size_t* max_payload = nullptr) {
    ToneSource tone(440.0, 0.4);
    std::vector<int16_t> out;
    std::array<int16_t, kFrameSamples> pcm{};
    std::array<uint8_t, kMaxEncodedFrame> payload{};
    std::array<int16_t, kMaxDecodedSamples> decoded{};
    for (int i = 0; i < frames; ++i) {
        tone.read(pcm);
        size_t n = 0;
        EXPECT_FALSE(enc.encode(pcm, payload, n));
        EXPECT_GT(n, 0u);
        if (max_payload) *max_payload = std::max(*max_payload, n);
        size_t samples = 0;
        EXPECT_FALSE(dec.decode(std::span(payload).first(n), decoded, samples));
        EXPECT_EQ(samples, kFrameSamples);
        out.insert(out.end(), decoded.begin(), decoded.begin() + static_cast<long>(samples));
    }
    return out;
}

}  // namespace

TEST(Codec, FindCodec) {
    auto opus = find_codec("opus");
    ASSERT_TRUE(opus);
    EXPECT_EQ(opus->clock_rate, 48000u);
    EXPECT_EQ(opus->channels, 2);
    EXPECT_EQ(opus->static_payload_type, -1);
    EXPECT_EQ(opus->timestamp_step, 960u);
    EXPECT_EQ(rtpmap_string(*opus), "opus/48000/2");
    EXPECT_TRUE(find_codec("OPUS/48000/2"));
    EXPECT_FALSE(find_codec("opus/8000"));

    auto pcmu = find_codec("pcmu/8000");
    ASSERT_TRUE(pcmu);
    EXPECT_EQ(pcmu->name, "PCMU");
    EXPECT_EQ(pcmu->static_payload_type, 0);
    EXPECT_EQ(pcmu->timestamp_step, 160u);
    EXPECT_EQ(rtpmap_string(*pcmu), "PCMU/8000");
    EXPECT_FALSE(find_codec("G722"));

    std::error_code ec;
    EXPECT_EQ(make_encoder("speex", ec), nullptr);
    EXPECT_EQ(ec, errc::unsupported_codec);
    EXPECT_EQ(make_decoder("", ec), nullptr);
    EXPECT_EQ(ec, errc::unsupported_codec);
}

TEST(Codec, OpusKeepsTone) {
    std::error_code ec;
    auto enc = make_encoder("opus/48000/2", ec);
    ASSERT_TRUE(enc) << ec.message();
    auto dec = make_decoder("opus", ec);
    ASSERT_TRUE(dec) << ec.message();
    size_t max_payload = 0;
    const auto pcm = round_trip(*enc, *dec, 100, &max_payload);
    EXPECT_LT(max_payload, 400u);  // ~32 kbit/s: about 80 bytes per frame
    // Skip the first 100 ms (encoder start-up).
    const auto r = analyze_tone(std::span(pcm).subspan(4800), kSampleRate, 440.0);
    EXPECT_NEAR(r.peak_hz, 440.0, 5.0);
    EXPECT_GT(r.snr_db, 20.0);
    EXPECT_NEAR(r.rms, 0.4 / std::sqrt(2.0), 0.08);
}

TEST(Codec, PcmuKeepsTone) {
    std::error_code ec;
    auto enc = make_encoder("PCMU", ec);
    auto dec = make_decoder("PCMU", ec);
    ASSERT_TRUE(enc && dec);
    size_t max_payload = 0;
    const auto pcm = round_trip(*enc, *dec, 100, &max_payload);
    EXPECT_EQ(max_payload, 160u);  // 20 ms at 8 kHz, one byte per sample
    const auto r = analyze_tone(std::span(pcm).subspan(4800), kSampleRate, 440.0);
    EXPECT_NEAR(r.peak_hz, 440.0, 5.0);
    EXPECT_GT(r.snr_db, 20.0);
    EXPECT_NEAR(r.rms, 0.4 / std::sqrt(2.0), 0.05);
}

TEST(Codec, PcmaKeepsTone) {
    auto pcma = find_codec("pcma/8000");
    ASSERT_TRUE(pcma);
    EXPECT_EQ(pcma->name, "PCMA");
    EXPECT_EQ(pcma->static_payload_type, 8);  // RFC 3551 §6
    EXPECT_EQ(pcma->clock_rate, 8000u);
    EXPECT_EQ(pcma->timestamp_step, 160u);
    EXPECT_EQ(rtpmap_string(*pcma), "PCMA/8000");
    EXPECT_FALSE(find_codec("PCMA/16000"));

    std::error_code ec;
    auto enc = make_encoder("PCMA", ec);
    ASSERT_TRUE(enc);
    auto dec = make_decoder("PCMA", ec);
    ASSERT_TRUE(dec);
    EXPECT_EQ(enc->info().name, "PCMA");
    EXPECT_EQ(dec->info().name, "PCMA");
    size_t max_payload = 0;
    const auto pcm = round_trip(*enc, *dec, 100, &max_payload);
    EXPECT_EQ(max_payload, 160u);
    const auto r = analyze_tone(std::span(pcm).subspan(4800), kSampleRate, 440.0);
    EXPECT_NEAR(r.peak_hz, 440.0, 5.0);
    EXPECT_GT(r.snr_db, 20.0);
    EXPECT_NEAR(r.rms, 0.4 / std::sqrt(2.0), 0.05);

    // Same input, different law: the payloads differ from PCMU's.
    auto ulaw = make_pcmu_encoder();
    std::array<int16_t, kFrameSamples> frame{};
    ToneSource(440.0, 0.4).read(frame);
    std::array<uint8_t, 160> a{}, u{};
    size_t na = 0, nu = 0;
    ASSERT_FALSE(make_pcma_encoder()->encode(frame, a, na));
    ASSERT_FALSE(ulaw->encode(frame, u, nu));
    EXPECT_NE(a, u);
}

TEST(Codec, AlawTable) {
    // ITU-T G.711 Table 1/2: the even bits are inverted, positive values have the sign bit set.
    EXPECT_EQ(linear_to_alaw(0), 0xd5);
    EXPECT_EQ(linear_to_alaw(-1), 0x55);
    EXPECT_EQ(alaw_to_linear(0xd5), 8);
    EXPECT_EQ(alaw_to_linear(0x55), -8);
    EXPECT_EQ(linear_to_alaw(32767), 0xaa);
    EXPECT_EQ(linear_to_alaw(-32768), 0x2a);
    EXPECT_EQ(alaw_to_linear(0xaa), 32256);
    EXPECT_EQ(alaw_to_linear(0x2a), -32256);
    // Segment edges (13-bit magnitudes 31/32 and 63/64 of segments 0, 1 and 2).
    EXPECT_EQ(linear_to_alaw(31 * 8) ^ 0x55, 0x80 | 0x0f);
    EXPECT_EQ(linear_to_alaw(32 * 8) ^ 0x55, 0x80 | 0x10);
    EXPECT_EQ(linear_to_alaw(63 * 8) ^ 0x55, 0x80 | 0x1f);
    EXPECT_EQ(linear_to_alaw(64 * 8) ^ 0x55, 0x80 | 0x20);
    // Every code decodes and re-encodes to itself; decoding is monotonic in the code order.
    int prev = -40000;
    for (int i = 0; i < 256; ++i) {
        // Walk from the most negative to the most positive value.
        const int sign = i < 128 ? 0x00 : 0x80;
        const int mag = i < 128 ? 127 - i : i - 128;
        const auto code = static_cast<uint8_t>((sign | mag) ^ 0x55);
        const int v = alaw_to_linear(code);
        EXPECT_EQ(linear_to_alaw(static_cast<int16_t>(v)), code) << i;
        EXPECT_GT(v, prev) << i;
        prev = v;
    }
    for (int s = -32000; s <= 32000; s += 37) {
        const int back = alaw_to_linear(linear_to_alaw(static_cast<int16_t>(s)));
        EXPECT_LE(std::abs(back - s), std::max(16, std::abs(s) / 16)) << s;
    }
}

TEST(Codec, PcmuRejectsAboveNyquist) {
    // A 6 kHz tone cannot pass 8 kHz PCMU: the low-pass must remove it (no aliasing to 2 kHz).
    auto enc = make_pcmu_encoder();
    auto dec = make_pcmu_decoder();
    ToneSource tone(6000.0, 0.5);
    std::array<int16_t, kFrameSamples> pcm{};
    std::array<uint8_t, 200> payload{};
    std::array<int16_t, kMaxDecodedSamples> out{};
    std::vector<int16_t> all;
    for (int i = 0; i < 50; ++i) {
        tone.read(pcm);
        size_t n = 0, samples = 0;
        ASSERT_FALSE(enc->encode(pcm, payload, n));
        ASSERT_FALSE(dec->decode(std::span(payload).first(n), out, samples));
        all.insert(all.end(), out.begin(), out.begin() + static_cast<long>(samples));
    }
    const auto r = analyze_tone(std::span(all).subspan(4800), kSampleRate, 6000.0);
    EXPECT_LT(r.rms, 0.02);  // input RMS is 0.35
}

TEST(Codec, UlawTable) {
    EXPECT_EQ(linear_to_ulaw(0), 0xff);
    EXPECT_EQ(ulaw_to_linear(0xff), 0);
    EXPECT_EQ(ulaw_to_linear(0x80), 32124);
    EXPECT_EQ(ulaw_to_linear(0x00), -32124);
    EXPECT_EQ(linear_to_ulaw(32767), 0x80);
    EXPECT_EQ(linear_to_ulaw(-32768), 0x00);
    // Every code decodes and re-encodes to itself (except the duplicate zero 0x7f).
    for (int c = 0; c < 256; ++c) {
        if (c == 0x7f) continue;
        EXPECT_EQ(linear_to_ulaw(ulaw_to_linear(static_cast<uint8_t>(c))), c) << c;
    }
    // Quantisation error is bounded relative to the magnitude (log companding).
    for (int s = -32000; s <= 32000; s += 37) {
        const int back = ulaw_to_linear(linear_to_ulaw(static_cast<int16_t>(s)));
        EXPECT_LE(std::abs(back - s), std::max(8, std::abs(s) / 16)) << s;
    }
}

TEST(Codec, ConcealmentProducesAFrame) {
    std::error_code ec;
    auto enc = make_opus_encoder(OpusOptions{}, ec);
    auto dec = make_opus_decoder(ec);
    ASSERT_TRUE(enc && dec);
    (void)round_trip(*enc, *dec, 20);
    std::array<int16_t, kMaxDecodedSamples> out{};
    size_t samples = 0;
    ASSERT_FALSE(dec->conceal(out, samples));
    EXPECT_EQ(samples, kFrameSamples);
    EXPECT_GT(analyze_tone(std::span(out).first(samples), kSampleRate, 440).rms, 0.05);

    auto pdec = make_pcmu_decoder();
    auto penc = make_pcmu_encoder();
    (void)round_trip(*penc, *pdec, 10);
    double prev = 1e9;
    for (int i = 0; i < 4; ++i) {
        ASSERT_FALSE(pdec->conceal(out, samples));
        EXPECT_EQ(samples, kFrameSamples);
        const double rms = analyze_tone(std::span(out).first(samples), kSampleRate, 440).rms;
        EXPECT_LT(rms, prev);  // fades out
        if (i == 0) {
            EXPECT_GT(rms, 0.1);
        }
        if (i == 3) {
            EXPECT_EQ(rms, 0.0);
        }
        prev = rms + 1e-12;
    }
}

TEST(Codec, OpusInbandFecRecoversLostFrame) {
    std::error_code ec;
    auto enc = make_opus_encoder(OpusOptions{.expected_loss_percent = 20}, ec);
    auto dec = make_opus_decoder(ec);
    ASSERT_TRUE(enc && dec);
    ToneSource tone(440.0, 0.4);
    std::array<int16_t, kFrameSamples> pcm{};
    std::vector<std::vector<uint8_t>> packets;
    for (int i = 0; i < 30; ++i) {
        tone.read(pcm);
        std::array<uint8_t, kMaxEncodedFrame> payload{};
        size_t n = 0;
        ASSERT_FALSE(enc->encode(pcm, payload, n));
        packets.emplace_back(payload.begin(), payload.begin() + static_cast<long>(n));
    }
    std::array<int16_t, kMaxDecodedSamples> out{};
    size_t samples = 0;
    for (int i = 0; i < 20; ++i) ASSERT_FALSE(dec->decode(packets[i], out, samples));
    // Packet 20 is lost; packet 21 carries its LBRR copy.
    ASSERT_FALSE(dec->recover(packets[21], out, samples));
    EXPECT_EQ(samples, kFrameSamples);
    const auto r = analyze_tone(std::span(out).first(samples), kSampleRate, 440.0);
    EXPECT_GT(r.rms, 0.1);
    ASSERT_FALSE(dec->decode(packets[21], out, samples));
    EXPECT_EQ(samples, kFrameSamples);
}

TEST(Codec, BadArguments) {
    std::error_code ec;
    auto enc = make_encoder("opus", ec);
    auto dec = make_decoder("opus", ec);
    ASSERT_TRUE(enc && dec);
    std::array<int16_t, 480> half{};
    std::array<uint8_t, 1500> payload{};
    size_t n = 0;
    EXPECT_EQ(enc->encode(half, payload, n), errc::invalid_argument);
    std::array<int16_t, kMaxDecodedSamples> out{};
    EXPECT_EQ(dec->decode({}, out, n), errc::malformed_packet);
    std::array<int16_t, 100> small{};
    EXPECT_EQ(dec->conceal(small, n), errc::buffer_too_small);

    auto pdec = make_pcmu_decoder();
    EXPECT_EQ(pdec->decode({}, out, n), errc::malformed_packet);
    std::array<uint8_t, 160> ulaw{};
    EXPECT_EQ(pdec->decode(ulaw, small, n), errc::buffer_too_small);
    auto penc = make_pcmu_encoder();
    std::array<int16_t, kFrameSamples> frame{};
    std::array<uint8_t, 100> tiny{};
    EXPECT_EQ(penc->encode(frame, tiny, n), errc::buffer_too_small);
}

}  // namespace p2psip::media
