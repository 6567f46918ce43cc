#include "p2psip/media/rtp.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "p2psip/media/error.hpp"

namespace p2psip::media {

TEST(Rtp, WriteParseRoundTrip) {
    RtpHeader h;
    h.marker = true;
    h.payload_type = 111;
    h.sequence = 0xfffe;
    h.timestamp = 0x12345678;
    h.ssrc = 0xdeadbeef;
    h.csrc_count = 2;
    h.csrc[0] = 1;
    h.csrc[1] = 0xa0b0c0d0;
    const std::vector<uint8_t> payload = {1, 2, 3, 4, 5};
    std::array<uint8_t, 64> buf{};
    size_t n = 0;
    ASSERT_FALSE(write_rtp(h, payload, buf, n));
    ASSERT_EQ(n, 12u + 8u + 5u);
    EXPECT_EQ(buf[0], 0x82);  // V=2, CC=2
    EXPECT_EQ(buf[1], 0x80 | 111);

    RtpHeader p;
    ASSERT_FALSE(parse_rtp(std::span(buf).first(n), p));
    EXPECT_EQ(p.version, 2);
    EXPECT_TRUE(p.marker);
    EXPECT_FALSE(p.padding);
    EXPECT_FALSE(p.extension);
    EXPECT_EQ(p.payload_type, 111);
    EXPECT_EQ(p.sequence, 0xfffe);
    EXPECT_EQ(p.timestamp, 0x12345678u);
    EXPECT_EQ(p.ssrc, 0xdeadbeefu);
    EXPECT_EQ(p.csrc_count, 2);
    EXPECT_EQ(p.csrc[1], 0xa0b0c0d0u);
    EXPECT_EQ(p.header_size, 20u);
    ASSERT_EQ(p.payload.size(), payload.size());
    EXPECT_TRUE(std::equal(payload.begin(), payload.end(), p.payload.begin()));
    EXPECT_EQ(p.payload.data(), buf.data() + 20);  // a view, not a copy
}

TEST(Rtp, PayloadAlreadyInPlace) {
    std::array<uint8_t, 32> buf{};
    for (size_t i = 0; i < 4; ++i) buf[12 + i] = static_cast<uint8_t>(0x10 + i);
    RtpHeader h;
    h.payload_type = 0;
    size_t n = 0;
    ASSERT_FALSE(write_rtp(h, std::span<const uint8_t>(buf.data() + 12, 4), buf, n));
    RtpHeader p;
    ASSERT_FALSE(parse_rtp(std::span(buf).first(n), p));
    ASSERT_EQ(p.payload.size(), 4u);
    EXPECT_EQ(p.payload[3], 0x13);
}

TEST(Rtp, ExtensionIsSkippedAndPaddingRemoved) {
    // V=2 P=1 X=1 CC=0, PT 96, then 1-word extension, 3 payload bytes, 3 bytes padding.
    std::vector<uint8_t> pkt = {0xb0, 96,   0,    7, 0,    0,    0,    9,
                                0,    0,    0,    1,                          // fixed header
                                0xbe, 0xde, 0,    1, 0x11, 0x22, 0x33, 0x44,  // extension
                                0xaa, 0xbb, 0xcc,                             // payload
                                0,    0,    3};                               // padding
    RtpHeader p;
    ASSERT_FALSE(parse_rtp(pkt, p));
    EXPECT_TRUE(p.extension);
    EXPECT_TRUE(p.padding);
    EXPECT_EQ(p.extension_profile, 0xbede);
    EXPECT_EQ(p.extension_data.size(), 4u);
    EXPECT_EQ(p.padding_size, 3);
    EXPECT_EQ(p.header_size, 20u);
    ASSERT_EQ(p.payload.size(), 3u);
    EXPECT_EQ(p.payload[0], 0xaa);
    EXPECT_EQ(p.payload[2], 0xcc);
    EXPECT_EQ(p.sequence, 7);
}

TEST(Rtp, MalformedInputIsRejected) {
    RtpHeader p;
    std::vector<uint8_t> good = {0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xff};
    ASSERT_FALSE(parse_rtp(good, p));

    EXPECT_EQ(parse_rtp({}, p), errc::malformed_packet);
    EXPECT_EQ(parse_rtp(std::span(good).first(11), p), errc::malformed_packet);  // short

    auto v1 = good;
    v1[0] = 0x40;  // version 1
    EXPECT_EQ(parse_rtp(v1, p), errc::malformed_packet);

    auto csrc = good;
    csrc[0] = 0x83;  // claims 3 CSRCs, only 1 byte follows
    EXPECT_EQ(parse_rtp(csrc, p), errc::malformed_packet);

    auto ext = good;
    ext[0] = 0x90;  // extension bit, no room for extension header
    EXPECT_EQ(parse_rtp(ext, p), errc::malformed_packet);

    std::vector<uint8_t> ext_long = {0x90, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 5, 1, 2};
    EXPECT_EQ(parse_rtp(ext_long, p), errc::malformed_packet);  // extension length too big

    auto pad_zero = good;
    pad_zero[0] = 0xa0;
    pad_zero.back() = 0;  // padding count 0 is invalid
    EXPECT_EQ(parse_rtp(pad_zero, p), errc::malformed_packet);

    auto pad_big = good;
    pad_big[0] = 0xa0;
    pad_big.back() = 2;  // more padding than payload
    EXPECT_EQ(parse_rtp(pad_big, p), errc::malformed_packet);
}

TEST(Rtp, WriterChecksBuffer) {
    RtpHeader h;
    std::array<uint8_t, 11> small{};
    size_t n = 0;
    EXPECT_EQ(write_rtp_header(h, small, n), errc::buffer_too_small);
    std::array<uint8_t, 14> tiny{};
    const std::array<uint8_t, 4> payload{};
    EXPECT_EQ(write_rtp(h, payload, tiny, n), errc::buffer_too_small);
    h.payload_type = 200;
    std::array<uint8_t, 32> buf{};
    EXPECT_EQ(write_rtp_header(h, buf, n), errc::invalid_argument);
}

TEST(Rtp, RtpRtcpDemux) {
    std::array<uint8_t, 12> rtp = {0x80, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1};
    EXPECT_TRUE(looks_like_rtp(rtp));
    EXPECT_FALSE(looks_like_rtcp(rtp));
    rtp[1] = 0x80 | 0;  // marker + PT 0 = 128, still RTP
    EXPECT_TRUE(looks_like_rtp(rtp));

    std::array<uint8_t, 8> sr = {0x80, 200, 0, 6, 0, 0, 0, 1};  // RTCP SR
    EXPECT_TRUE(looks_like_rtcp(sr));
    EXPECT_FALSE(looks_like_rtp(sr));
    for (uint8_t pt : {uint8_t{192}, uint8_t{223}}) {
        sr[1] = pt;
        EXPECT_TRUE(looks_like_rtcp(sr));
    }
    sr[1] = 224;
    EXPECT_FALSE(looks_like_rtcp(sr));

    std::array<uint8_t, 12> stun{};  // STUN starts with 0b00
    EXPECT_FALSE(looks_like_rtp(stun));
    EXPECT_FALSE(looks_like_rtcp(stun));
    EXPECT_FALSE(looks_like_rtp(std::span(rtp).first(8)));
}

TEST(Rtp, SequenceArithmeticWraps) {
    EXPECT_TRUE(seq_before(1, 2));
    EXPECT_FALSE(seq_before(2, 1));
    EXPECT_FALSE(seq_before(5, 5));
    EXPECT_TRUE(seq_before(65535, 0));
    EXPECT_TRUE(seq_before(65000, 100));
    EXPECT_FALSE(seq_before(100, 65000));
}

}  // namespace p2psip::media
