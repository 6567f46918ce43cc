#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>

namespace p2psip::media {

inline constexpr size_t kRtpHeaderSize = 12;  // fixed part, RFC 3550 §5.1
inline constexpr size_t kRtpMaxCsrc = 15;

// A parsed RTP header. Parsing fills every field; spans point into the parsed packet.
// Writing uses version 2, marker, payload_type, sequence, timestamp, ssrc and csrc[0..csrc_count).
struct RtpHeader {
    uint8_t version = 2;
    bool padding = false;
    bool extension = false;
    bool marker = false;
    uint8_t payload_type = 0;
    uint16_t sequence = 0;
    uint32_t timestamp = 0;
    uint32_t ssrc = 0;
    uint8_t csrc_count = 0;
    std::array<uint32_t, kRtpMaxCsrc> csrc{};
    uint16_t extension_profile = 0;           // only if extension
    std::span<const uint8_t> extension_data;  // header extension body (skipped), RFC 3550 §5.3.1
    uint8_t padding_size = 0;                 // trailing padding octets incl. the count octet
    size_t header_size = 0;                   // fixed header + CSRCs + extension
    std::span<const uint8_t> payload;         // excludes padding
};

// Parses an RTP packet (RFC 3550 §5.1). No copies: out's spans view `packet`.
std::error_code parse_rtp(std::span<const uint8_t> packet, RtpHeader& out);

// Writes the header (12 + 4*csrc_count bytes, no extension/padding) into `out`.
std::error_code write_rtp_header(const RtpHeader& h, std::span<uint8_t> out, size_t& written);

// Writes header + payload into `out`. `payload` may already sit inside `out` (memmove is used).
std::error_code write_rtp(const RtpHeader& h, std::span<const uint8_t> payload,
                          std::span<uint8_t> out, size_t& written);

// RFC 5761 §4 / RFC 7983: version 2, and the second octet (M+PT) tells RTCP (192..223) from RTP.
bool looks_like_rtcp(std::span<const uint8_t> packet) noexcept;
bool looks_like_rtp(std::span<const uint8_t> packet) noexcept;

// 16-bit sequence arithmetic (RFC 3550 A.1): true if a comes before b, modulo 2^16.
constexpr bool seq_before(uint16_t a, uint16_t b) noexcept {
    return a != b && static_cast<uint16_t>(b - a) < 0x8000;
}

}  // namespace p2psip::media
