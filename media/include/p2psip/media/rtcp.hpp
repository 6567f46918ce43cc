#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>

namespace p2psip::media {

// RTCP packet types, RFC 3550 §12.1.
inline constexpr uint8_t kRtcpSenderReport = 200;
inline constexpr uint8_t kRtcpReceiverReport = 201;
inline constexpr uint8_t kRtcpSourceDescription = 202;
inline constexpr uint8_t kRtcpBye = 203;
inline constexpr size_t kRtcpMaxReportBlocks = 31;  // the 5-bit RC field
inline constexpr size_t kRtcpMaxCname = 255;        // SDES item length is one octet

// One reception report block, RFC 3550 §6.4.1.
struct RtcpReportBlock {
    uint32_t ssrc = 0;            // the source this block reports on
    uint8_t fraction_lost = 0;    // lost fraction since the previous report, in 1/256
    int32_t cumulative_lost = 0;  // 24-bit signed on the wire (duplicates can make it negative)
    uint32_t highest_seq = 0;     // extended highest sequence number received
    uint32_t jitter = 0;          // interarrival jitter, RTP timestamp units
    uint32_t lsr = 0;             // middle 32 bits of the NTP time of the last SR received, or 0
    uint32_t dlsr = 0;            // delay since that SR, in 1/65536 s
};

// Sender info of an SR, RFC 3550 §6.4.1.
struct RtcpSenderInfo {
    uint64_t ntp = 0;  // 32.32 fixed-point seconds since 1900-01-01
    uint32_t rtp_timestamp = 0;
    uint32_t packet_count = 0;
    uint32_t octet_count = 0;  // payload octets, RTP headers and padding excluded
};

// An SR (sender_report) or RR.
struct RtcpReport {
    bool sender_report = false;
    uint32_t ssrc = 0;
    RtcpSenderInfo sender{};  // only for an SR
    size_t block_count = 0;
    std::array<RtcpReportBlock, kRtcpMaxReportBlocks> blocks{};
};

// What a compound RTCP packet carried. Views point into the parsed datagram.
struct RtcpCompound {
    bool has_report = false;
    RtcpReport report{};         // the leading SR/RR (RFC 3550 §6.1)
    std::string_view cname;      // SDES CNAME of report.ssrc's chunk (or the first chunk), if any
    bool bye = false;            // a BYE was included
    size_t packets = 0;          // individual RTCP packets
    size_t ignored_packets = 0;  // APP, feedback, XR and other types we do not interpret
};

// Parses a (decrypted) compound RTCP packet with the RFC 3550 A.2 validity checks: version 2,
// the first packet an SR or RR without padding, only the last packet padded, and the length
// fields adding up to the datagram. errc::malformed_packet otherwise.
std::error_code parse_rtcp(std::span<const uint8_t> compound, RtcpCompound& out);

// Writers, each appending one RTCP packet at the start of `out`; `written` gets its size.
// An SR if r.sender_report, else an RR; up to 31 report blocks.
std::error_code write_rtcp_report(const RtcpReport& r, std::span<uint8_t> out, size_t& written);
// An SDES packet with one chunk holding a CNAME item (RFC 3550 §6.5.1).
std::error_code write_rtcp_sdes_cname(uint32_t ssrc, std::string_view cname, std::span<uint8_t> out,
                                      size_t& written);
// A BYE for one SSRC, no reason (RFC 3550 §6.6).
std::error_code write_rtcp_bye(uint32_t ssrc, std::span<uint8_t> out, size_t& written);

// RFC 3550 §4: NTP timestamps, 32.32 fixed point since 1900.
uint64_t to_ntp(std::chrono::system_clock::time_point t) noexcept;
// The "compact" middle 32 bits (16.16) used by LSR/DLSR and the round-trip time.
constexpr uint32_t ntp_compact(uint64_t ntp) noexcept {
    return static_cast<uint32_t>(ntp >> 16);
}

// RFC 3550 §6.4.1: round-trip time seen by the sender of an SR, from a report block that echoes
// it: A - LSR - DLSR, with A the compact NTP arrival time of that block. In seconds; nullopt if
// the block carries no LSR (0) or the result is negative (clock step, bogus block).
std::optional<double> rtcp_round_trip(uint32_t arrival_compact, uint32_t lsr,
                                      uint32_t dlsr) noexcept;

}  // namespace p2psip::media
