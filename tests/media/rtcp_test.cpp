#include "p2psip/media/rtcp.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "p2psip/media/error.hpp"
#include "p2psip/media/rtp.hpp"

namespace p2psip::media {
namespace {

std::vector<uint8_t> compound(const RtcpReport& r, std::string_view cname, bool bye) {
    std::vector<uint8_t> out(600);
    size_t len = 0, n = 0;
    EXPECT_FALSE(write_rtcp_report(r, out, n));
    len += n;
    EXPECT_FALSE(write_rtcp_sdes_cname(r.ssrc, cname, std::span(out).subspan(len), n));
    len += n;
    if (bye) {
        EXPECT_FALSE(write_rtcp_bye(r.ssrc, std::span(out).subspan(len), n));
        len += n;
    }
    out.resize(len);
    return out;
}

RtcpReport sample_sr() {
    RtcpReport r;
    r.sender_report = true;
    r.ssrc = 0x11223344;
    r.sender = {.ntp = 0xe1234567'89abcdefull,
                .rtp_timestamp = 123456,
                .packet_count = 500,
                .octet_count = 40000};
    r.block_count = 2;
    r.blocks[0] = {.ssrc = 0xaabbccdd,
                   .fraction_lost = 25,
                   .cumulative_lost = 1234,
                   .highest_seq = 0x0001fff0,
                   .jitter = 77,
                   .lsr = 0x45678901,
                   .dlsr = 0x00028000};
    r.blocks[1] = {.ssrc = 5, .cumulative_lost = -3};  // duplicates can make it negative
    return r;
}

}  // namespace

TEST(Rtcp, SenderReportRoundTrip) {
    const RtcpReport r = sample_sr();
    const auto pkt = compound(r, "alice@example", true);
    // SR: 4 header + 4 SSRC + 20 sender info + 2 * 24 blocks = 76; SDES: 4 + 4 + 2 + 13 + pad
    // to 24; BYE 8.
    ASSERT_EQ(pkt.size(), 76u + 24u + 8u);
    EXPECT_EQ(pkt[0], 0x82);  // V=2, RC=2
    EXPECT_EQ(pkt[1], kRtcpSenderReport);
    EXPECT_EQ(pkt[3], 76 / 4 - 1);  // length in words minus one
    EXPECT_TRUE(looks_like_rtcp(pkt));
    EXPECT_FALSE(looks_like_rtp(pkt));

    RtcpCompound c;
    ASSERT_FALSE(parse_rtcp(pkt, c));
    EXPECT_EQ(c.packets, 3u);
    EXPECT_EQ(c.ignored_packets, 0u);
    EXPECT_TRUE(c.bye);
    EXPECT_EQ(c.cname, "alice@example");
    ASSERT_TRUE(c.has_report);
    EXPECT_TRUE(c.report.sender_report);
    EXPECT_EQ(c.report.ssrc, r.ssrc);
    EXPECT_EQ(c.report.sender.ntp, r.sender.ntp);
    EXPECT_EQ(c.report.sender.rtp_timestamp, r.sender.rtp_timestamp);
    EXPECT_EQ(c.report.sender.packet_count, r.sender.packet_count);
    EXPECT_EQ(c.report.sender.octet_count, r.sender.octet_count);
    ASSERT_EQ(c.report.block_count, 2u);
    const auto& b = c.report.blocks[0];
    EXPECT_EQ(b.ssrc, r.blocks[0].ssrc);
    EXPECT_EQ(b.fraction_lost, 25);
    EXPECT_EQ(b.cumulative_lost, 1234);
    EXPECT_EQ(b.highest_seq, 0x0001fff0u);
    EXPECT_EQ(b.jitter, 77u);
    EXPECT_EQ(b.lsr, 0x45678901u);
    EXPECT_EQ(b.dlsr, 0x00028000u);
    EXPECT_EQ(c.report.blocks[1].cumulative_lost, -3);
}

TEST(Rtcp, ReceiverReportAndClamping) {
    RtcpReport r;
    r.ssrc = 9;
    r.block_count = 1;
    r.blocks[0].cumulative_lost = 50'000'000;  // beyond 24 bits: clamped, not wrapped
    const auto pkt = compound(r, "x", false);
    EXPECT_EQ(pkt[1], kRtcpReceiverReport);
    ASSERT_EQ(pkt.size(), 32u + 12u);
    RtcpCompound c;
    ASSERT_FALSE(parse_rtcp(pkt, c));
    EXPECT_FALSE(c.report.sender_report);
    EXPECT_FALSE(c.bye);
    EXPECT_EQ(c.report.blocks[0].cumulative_lost, 0x7fffff);

    r.block_count = 32;
    std::vector<uint8_t> buf(2000);
    size_t n = 0;
    EXPECT_EQ(write_rtcp_report(r, buf, n), errc::invalid_argument);
    r.block_count = 1;
    EXPECT_EQ(write_rtcp_report(r, std::span(buf).first(31), n), errc::buffer_too_small);
}

TEST(Rtcp, SdesIsPaddedToWords) {
    for (size_t len = 1; len <= 12; ++len) {
        const std::string name(len, 'n');
        std::array<uint8_t, 64> buf{};
        size_t n = 0;
        ASSERT_FALSE(write_rtcp_sdes_cname(7, name, buf, n));
        EXPECT_EQ(n % 4, 0u);
        EXPECT_GE(n, 8u + 2 + len + 1);  // at least one null octet ends the item list
        EXPECT_EQ(buf[n - 1], 0);
        // An empty RR before it makes a valid compound.
        const std::array<uint8_t, 8> rr = {0x80, kRtcpReceiverReport, 0, 1, 0, 0, 0, 7};
        std::vector<uint8_t> pkt(rr.size() + n);
        std::copy(rr.begin(), rr.end(), pkt.begin());
        std::copy(buf.begin(), buf.begin() + static_cast<long>(n), pkt.begin() + 8);
        RtcpCompound c;
        ASSERT_FALSE(parse_rtcp(pkt, c)) << len;
        EXPECT_EQ(c.cname, name);
    }
    size_t n = 0;
    std::array<uint8_t, 300> buf{};
    EXPECT_EQ(write_rtcp_sdes_cname(1, "", buf, n), errc::invalid_argument);
    EXPECT_EQ(write_rtcp_sdes_cname(1, std::string(256, 'a'), buf, n), errc::invalid_argument);
}

TEST(Rtcp, ValidityChecks) {
    const auto good = compound(sample_sr(), "c", false);
    RtcpCompound c;
    ASSERT_FALSE(parse_rtcp(good, c));

    auto bad = good;
    bad[0] = static_cast<uint8_t>((bad[0] & 0x3f) | 0x40);  // version 1
    EXPECT_EQ(parse_rtcp(bad, c), errc::malformed_packet);

    // A compound must start with an SR or RR (RFC 3550 A.2).
    std::vector<uint8_t> sdes_first(good.begin() + 76, good.end());
    EXPECT_EQ(parse_rtcp(sdes_first, c), errc::malformed_packet);

    // Lengths must add up to the datagram.
    bad = good;
    bad.pop_back();
    EXPECT_EQ(parse_rtcp(bad, c), errc::malformed_packet);
    bad = good;
    bad.push_back(0);
    EXPECT_EQ(parse_rtcp(bad, c), errc::malformed_packet);
    bad = good;
    bad[3] = 100;  // SR length beyond the datagram
    EXPECT_EQ(parse_rtcp(bad, c), errc::malformed_packet);

    // Report count larger than the packet.
    bad = good;
    bad[0] = 0x80 | 3;
    EXPECT_EQ(parse_rtcp(bad, c), errc::malformed_packet);

    // Padding only on the last packet.
    bad = good;
    bad[0] |= 0x20;
    EXPECT_EQ(parse_rtcp(bad, c), errc::malformed_packet);
    auto padded = good;
    padded[76] |= 0x20;  // SDES is last: add 4 padding octets to it
    padded.insert(padded.end(), {0, 0, 0, 4});
    padded[79] = static_cast<uint8_t>(padded[79] + 1);
    EXPECT_FALSE(parse_rtcp(padded, c));
    EXPECT_EQ(c.cname, "c");

    // Unknown types (APP) are skipped, not rejected.
    auto with_app = good;
    with_app.insert(with_app.end(), {0x80, 204, 0, 2, 0, 0, 0, 1, 'n', 'a', 'm', 'e'});
    ASSERT_FALSE(parse_rtcp(with_app, c));
    EXPECT_EQ(c.ignored_packets, 1u);
    EXPECT_EQ(c.packets, 3u);

    const std::array<uint8_t, 4> tiny = {0x80, 201, 0, 0};
    EXPECT_EQ(parse_rtcp(tiny, c), errc::malformed_packet);
}

TEST(Rtcp, NtpTimestamps) {
    using namespace std::chrono;
    EXPECT_EQ(to_ntp(system_clock::time_point{}), uint64_t{2208988800u} << 32);
    const auto half = system_clock::time_point{} + milliseconds(1500);
    EXPECT_EQ(to_ntp(half), ((uint64_t{2208988800u} + 1) << 32) | 0x80000000u);
    EXPECT_EQ(ntp_compact(0x0000b705'20000000ull), 0xb7052000u);
    // Monotonic in wall time.
    const auto now = system_clock::now();
    EXPECT_LT(to_ntp(now), to_ntp(now + microseconds(20)));
}

TEST(Rtcp, RoundTripTimeMatchesRfcExample) {
    // RFC 3550 §6.4.1 figure: A = 0xb710:8000, LSR = 0xb705:2000, DLSR = 0x0005:4000 -> 6.125 s.
    const auto rtt = rtcp_round_trip(0xb7108000u, 0xb7052000u, 0x00054000u);
    ASSERT_TRUE(rtt);
    EXPECT_DOUBLE_EQ(*rtt, 6.125);
    EXPECT_FALSE(rtcp_round_trip(0xb7108000u, 0, 0));                      // no SR received yet
    EXPECT_FALSE(rtcp_round_trip(0xb7052000u, 0xb7108000u, 0x00054000u));  // negative
}

}  // namespace p2psip::media
