#include "p2psip/media/rtp.hpp"

#include <cstring>

#include "byte_order.hpp"
#include "p2psip/media/error.hpp"

namespace p2psip::media {
using detail::load16;
using detail::load32;
using detail::store16;
using detail::store32;

std::error_code parse_rtp(std::span<const uint8_t> packet, RtpHeader& out) {
    if (packet.size() < kRtpHeaderSize) return errc::malformed_packet;
    const uint8_t* p = packet.data();
    RtpHeader h;
    h.version = p[0] >> 6;
    if (h.version != 2) return errc::malformed_packet;
    h.padding = (p[0] & 0x20) != 0;
    h.extension = (p[0] & 0x10) != 0;
    h.csrc_count = p[0] & 0x0f;
    h.marker = (p[1] & 0x80) != 0;
    h.payload_type = p[1] & 0x7f;
    h.sequence = load16(p + 2);
    h.timestamp = load32(p + 4);
    h.ssrc = load32(p + 8);

    size_t off = kRtpHeaderSize;
    if (packet.size() < off + 4u * h.csrc_count) return errc::malformed_packet;
    for (size_t i = 0; i < h.csrc_count; ++i) h.csrc[i] = load32(p + off + 4 * i);
    off += 4u * h.csrc_count;

    if (h.extension) {
        // RFC 3550 §5.3.1: 16-bit profile, 16-bit length in 32-bit words, then the body.
        if (packet.size() < off + 4) return errc::malformed_packet;
        h.extension_profile = load16(p + off);
        const size_t words = load16(p + off + 2);
        off += 4;
        if (packet.size() < off + 4 * words) return errc::malformed_packet;
        h.extension_data = packet.subspan(off, 4 * words);
        off += 4 * words;
    }
    h.header_size = off;

    size_t end = packet.size();
    if (h.padding) {
        // RFC 3550 §5.1: the last octet counts the padding octets, itself included.
        const uint8_t pad = p[end - 1];
        if (pad == 0 || pad > end - off) return errc::malformed_packet;
        h.padding_size = pad;
        end -= pad;
    }
    h.payload = packet.subspan(off, end - off);
    out = h;
    return {};
}

std::error_code write_rtp_header(const RtpHeader& h, std::span<uint8_t> out, size_t& written) {
    if (h.csrc_count > kRtpMaxCsrc || h.payload_type > 127) return errc::invalid_argument;
    const size_t size = kRtpHeaderSize + 4u * h.csrc_count;
    if (out.size() < size) return errc::buffer_too_small;
    uint8_t* p = out.data();
    p[0] = static_cast<uint8_t>(0x80 | h.csrc_count);  // V=2, P=0, X=0
    p[1] = static_cast<uint8_t>((h.marker ? 0x80 : 0) | h.payload_type);
    store16(p + 2, h.sequence);
    store32(p + 4, h.timestamp);
    store32(p + 8, h.ssrc);
    for (size_t i = 0; i < h.csrc_count; ++i) store32(p + kRtpHeaderSize + 4 * i, h.csrc[i]);
    written = size;
    return {};
}

std::error_code write_rtp(const RtpHeader& h, std::span<const uint8_t> payload,
                          std::span<uint8_t> out, size_t& written) {
    const size_t header = kRtpHeaderSize + 4u * h.csrc_count;
    if (h.csrc_count <= kRtpMaxCsrc && out.size() < header + payload.size())
        return errc::buffer_too_small;
    // Move the payload first: it may live where the header goes.
    if (h.csrc_count <= kRtpMaxCsrc && !payload.empty())
        std::memmove(out.data() + header, payload.data(), payload.size());
    size_t n = 0;
    if (auto ec = write_rtp_header(h, out, n)) return ec;
    written = n + payload.size();
    return {};
}

bool looks_like_rtcp(std::span<const uint8_t> packet) noexcept {
    // RFC 5761 §4: RTCP packet types 192..223 collide with RTP only for PTs 64..95.
    return packet.size() >= 8 && (packet[0] >> 6) == 2 && packet[1] >= 192 && packet[1] <= 223;
}

bool looks_like_rtp(std::span<const uint8_t> packet) noexcept {
    return packet.size() >= kRtpHeaderSize && (packet[0] >> 6) == 2 && !looks_like_rtcp(packet);
}

}  // namespace p2psip::media
