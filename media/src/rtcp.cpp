#include "p2psip/media/rtcp.hpp"

#include <algorithm>
#include <cstring>

#include "byte_order.hpp"
#include "p2psip/media/error.hpp"

namespace p2psip::media {
namespace {

using detail::load16;
using detail::load32;
using detail::store16;
using detail::store32;

constexpr size_t kHeader = 4;
constexpr size_t kSenderInfo = 20;
constexpr size_t kBlock = 24;
constexpr uint8_t kSdesEnd = 0;
constexpr uint8_t kSdesCname = 1;

void write_header(uint8_t* p, size_t count, uint8_t type, size_t size) {
    p[0] = static_cast<uint8_t>(0x80 | count);  // V=2, P=0
    p[1] = type;
    store16(p + 2, static_cast<uint16_t>(size / 4 - 1));  // RFC 3550 §6.4.1: words minus one
}

std::error_code parse_report(std::span<const uint8_t> pkt, size_t count, bool sr, RtcpReport& out) {
    const size_t need = kHeader + 4 + (sr ? kSenderInfo : 0) + count * kBlock;
    if (pkt.size() < need) return errc::malformed_packet;
    const uint8_t* p = pkt.data();
    RtcpReport r;
    r.sender_report = sr;
    r.ssrc = load32(p + 4);
    size_t off = 8;
    if (sr) {
        r.sender.ntp = (uint64_t{load32(p + off)} << 32) | load32(p + off + 4);
        r.sender.rtp_timestamp = load32(p + off + 8);
        r.sender.packet_count = load32(p + off + 12);
        r.sender.octet_count = load32(p + off + 16);
        off += kSenderInfo;
    }
    r.block_count = count;
    for (size_t i = 0; i < count; ++i, off += kBlock) {
        RtcpReportBlock& b = r.blocks[i];
        b.ssrc = load32(p + off);
        b.fraction_lost = p[off + 4];
        // 24-bit two's complement, sign-extended.
        const uint32_t raw = load32(p + off + 4) & 0xffffffu;
        b.cumulative_lost =
            (raw & 0x800000u) ? static_cast<int32_t>(raw) - 0x1000000 : static_cast<int32_t>(raw);
        b.highest_seq = load32(p + off + 8);
        b.jitter = load32(p + off + 12);
        b.lsr = load32(p + off + 16);
        b.dlsr = load32(p + off + 20);
    }
    out = r;
    return {};
}

// RFC 3550 §6.5: chunks of SSRC + items, each chunk ended by null octets up to a 32-bit boundary.
std::error_code parse_sdes(std::span<const uint8_t> pkt, size_t count, uint32_t prefer_ssrc,
                           std::string_view& cname) {
    size_t off = kHeader;
    for (size_t c = 0; c < count; ++c) {
        if (off + 4 > pkt.size()) return errc::malformed_packet;
        const uint32_t ssrc = load32(pkt.data() + off);
        off += 4;
        for (;;) {
            if (off >= pkt.size()) return errc::malformed_packet;
            const uint8_t type = pkt[off];
            if (type == kSdesEnd) break;
            if (off + 2 > pkt.size()) return errc::malformed_packet;
            const size_t len = pkt[off + 1];
            if (off + 2 + len > pkt.size()) return errc::malformed_packet;
            if (type == kSdesCname && (cname.empty() || ssrc == prefer_ssrc)) {
                cname = std::string_view(reinterpret_cast<const char*>(pkt.data() + off + 2), len);
            }
            off += 2 + len;
        }
        off = (off + 4) & ~size_t{3};  // past the null octet(s) to the next boundary
    }
    return {};
}

}  // namespace

std::error_code parse_rtcp(std::span<const uint8_t> compound, RtcpCompound& out) {
    if (compound.size() < kHeader + 4) return errc::malformed_packet;
    RtcpCompound r;
    size_t off = 0;
    while (off < compound.size()) {
        if (compound.size() - off < kHeader) return errc::malformed_packet;
        const uint8_t* p = compound.data() + off;
        if ((p[0] >> 6) != 2) return errc::malformed_packet;
        const bool padded = (p[0] & 0x20) != 0;
        const size_t count = p[0] & 0x1f;
        const uint8_t type = p[1];
        const size_t len = (size_t{load16(p + 2)} + 1) * 4;
        if (len > compound.size() - off) return errc::malformed_packet;
        const bool first = off == 0;
        // RFC 3550 A.2: the first packet is an SR or RR and unpadded; only the last may be padded.
        if (first && ((type != kRtcpSenderReport && type != kRtcpReceiverReport) || padded))
            return errc::malformed_packet;
        size_t body = len;
        if (padded) {
            if (off + len != compound.size()) return errc::malformed_packet;
            const uint8_t pad = p[len - 1];
            if (pad == 0 || pad > len - kHeader) return errc::malformed_packet;
            body -= pad;
        }
        const std::span<const uint8_t> pkt(p, body);
        switch (type) {
            case kRtcpSenderReport:
            case kRtcpReceiverReport:
                if (first) {
                    if (auto ec = parse_report(pkt, count, type == kRtcpSenderReport, r.report))
                        return ec;
                    r.has_report = true;
                } else if (pkt.size() < kHeader + 4 + count * kBlock) {
                    return errc::malformed_packet;  // extra RRs (> 31 sources): not needed
                }
                break;
            case kRtcpSourceDescription:
                if (auto ec = parse_sdes(pkt, count, r.report.ssrc, r.cname)) return ec;
                break;
            case kRtcpBye:
                if (pkt.size() < kHeader + 4 * count) return errc::malformed_packet;
                r.bye = true;
                break;
            default:
                ++r.ignored_packets;
                break;
        }
        ++r.packets;
        off += len;
    }
    out = r;
    return {};
}

std::error_code write_rtcp_report(const RtcpReport& r, std::span<uint8_t> out, size_t& written) {
    if (r.block_count > kRtcpMaxReportBlocks) return errc::invalid_argument;
    const size_t size = kHeader + 4 + (r.sender_report ? kSenderInfo : 0) + r.block_count * kBlock;
    if (out.size() < size) return errc::buffer_too_small;
    uint8_t* p = out.data();
    write_header(p, r.block_count, r.sender_report ? kRtcpSenderReport : kRtcpReceiverReport, size);
    store32(p + 4, r.ssrc);
    size_t off = 8;
    if (r.sender_report) {
        store32(p + off, static_cast<uint32_t>(r.sender.ntp >> 32));
        store32(p + off + 4, static_cast<uint32_t>(r.sender.ntp));
        store32(p + off + 8, r.sender.rtp_timestamp);
        store32(p + off + 12, r.sender.packet_count);
        store32(p + off + 16, r.sender.octet_count);
        off += kSenderInfo;
    }
    for (size_t i = 0; i < r.block_count; ++i, off += kBlock) {
        const RtcpReportBlock& b = r.blocks[i];
        store32(p + off, b.ssrc);
        // RFC 3550 §6.4.1: cumulative lost is a signed 24-bit value; clamp, do not wrap.
        const int32_t lost = std::clamp<int32_t>(b.cumulative_lost, -0x800000, 0x7fffff);
        store32(p + off + 4,
                (uint32_t{b.fraction_lost} << 24) | (static_cast<uint32_t>(lost) & 0xffffffu));
        store32(p + off + 8, b.highest_seq);
        store32(p + off + 12, b.jitter);
        store32(p + off + 16, b.lsr);
        store32(p + off + 20, b.dlsr);
    }
    written = size;
    return {};
}

std::error_code write_rtcp_sdes_cname(uint32_t ssrc, std::string_view cname, std::span<uint8_t> out,
                                      size_t& written) {
    if (cname.empty() || cname.size() > kRtcpMaxCname) return errc::invalid_argument;
    // Item (type, length, text), then at least one null octet, padded to 32 bits.
    const size_t chunk = (4 + 2 + cname.size() + 1 + 3) & ~size_t{3};
    const size_t size = kHeader + chunk;
    if (out.size() < size) return errc::buffer_too_small;
    uint8_t* p = out.data();
    std::memset(p, 0, size);
    write_header(p, 1, kRtcpSourceDescription, size);
    store32(p + 4, ssrc);
    p[8] = kSdesCname;
    p[9] = static_cast<uint8_t>(cname.size());
    std::memcpy(p + 10, cname.data(), cname.size());
    written = size;
    return {};
}

std::error_code write_rtcp_bye(uint32_t ssrc, std::span<uint8_t> out, size_t& written) {
    constexpr size_t size = kHeader + 4;
    if (out.size() < size) return errc::buffer_too_small;
    write_header(out.data(), 1, kRtcpBye, size);
    store32(out.data() + 4, ssrc);
    written = size;
    return {};
}

uint64_t to_ntp(std::chrono::system_clock::time_point t) noexcept {
    // RFC 3550 §4 / RFC 5905: NTP era 0 starts 70 years (2208988800 s) before the Unix epoch.
    constexpr uint64_t kUnixToNtp = 2208988800u;
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch());
    const auto secs = static_cast<uint64_t>(ns.count() / 1'000'000'000);
    const auto frac_ns = static_cast<uint64_t>(ns.count() % 1'000'000'000);
    return ((secs + kUnixToNtp) << 32) | ((frac_ns << 32) / 1'000'000'000u);
}

std::optional<double> rtcp_round_trip(uint32_t arrival_compact, uint32_t lsr,
                                      uint32_t dlsr) noexcept {
    if (lsr == 0) return std::nullopt;  // the peer has not received an SR from us yet
    const auto rtt = static_cast<int32_t>(arrival_compact - lsr - dlsr);
    if (rtt < 0) return std::nullopt;
    return static_cast<double>(rtt) / 65536.0;
}

}  // namespace p2psip::media
