#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "p2psip/media/codec.hpp"
#include "p2psip/media/rtp.hpp"
#include "p2psip/media/srtp.hpp"

namespace p2psip::media {

// One side of a media relay (B2BUA): its SRTP keys and how to send on it. Transport-agnostic:
// datagrams arriving on the leg are handed to RtpRelay::on_packet().
struct RelayLegConfig {
    // Key of packets ARRIVING on this leg, and of packets SENT on it; nullopt = plain RTP.
    std::optional<SrtpKeyMaterial> rx_key{};
    std::optional<SrtpKeyMaterial> tx_key{};
    // Sends a datagram on this leg: RTP and, with rtcp-mux (RFC 5761), RTCP.
    std::function<void(std::span<const uint8_t>)> send_rtp{};
    // Optional: the leg's separate RTCP flow (no rtcp-mux); empty = RTCP goes out on send_rtp.
    std::function<void(std::span<const uint8_t>)> send_rtcp{};
};

// How payload types map between the legs: each codec used on leg A and its counterpart on B.
struct RelayCodecMap {
    // Codec names as find_codec() knows them ("opus", "PCMU", "PCMA", "opus/48000/2", ...), or
    // "telephone-event" / "telephone-event/<clock>" (RFC 4733; without a clock the clock of the
    // leg's first audio entry is assumed, else 8000).
    struct Entry {
        int pt_a;
        int pt_b;
        std::string codec_a;
        std::string codec_b;
    };
    std::vector<Entry> entries;
};

// A media relay between two legs, e.g. a LAN phone (plain RTP or SDES-SRTP, maybe without
// rtcp-mux, its own payload type numbers) and the overlay leg (DTLS-SRTP, rtcp-mux).
//
// Per RTP packet: unprotect with the arrival leg's rx key, look the payload type up in the map,
// protect with the other leg's tx key, send on the other leg.
// - Same codec on both sides: only the PT bits are rewritten; the rest of the packet (SSRC,
//   sequence number, timestamp, marker, CSRCs, extensions, payload) is forwarded untouched.
// - Different codecs: decode, re-encode in 20 ms frames; SSRC and sequence numbers are kept
//   (so loss stays visible end to end), timestamps are rescaled between the clocks with a
//   per-direction mapping, the marker bit is kept. Assumes the sender packetises 20 ms
//   (other sizes are re-framed, see docs/media-notes.md).
// - telephone-event entries are only PT-mapped; if their clocks differ the packets are dropped
//   (counted as unmapped).
// RTCP (RFC 5761 §4 demux by the second octet, 192..223) is SRTCP-unprotected and re-protected
// unchanged (SSRCs are end to end).
// Single-threaded (call everything on the io thread); no heap allocation per packet.
class RtpRelay {
  public:
    enum class Side { a, b };

    struct Stats {
        uint64_t forwarded_a_to_b = 0;   // RTP packets sent on B (transcoded output included)
        uint64_t forwarded_b_to_a = 0;   // RTP packets sent on A
        uint64_t rtcp_forwarded = 0;     // RTCP compounds forwarded, either direction
        uint64_t dropped_auth = 0;       // SRTP/SRTCP authentication failures
        uint64_t dropped_replay = 0;     // SRTP replays (in or out: libsrtp2 refuses a repeat)
        uint64_t dropped_malformed = 0;  // not RTP/RTCP, oversize, undecodable, protect failure
        uint64_t dropped_unmapped = 0;   // payload type not in the map, or an unusable DTMF clock
        uint64_t transcoded = 0;         // RTP packets decoded and re-encoded
    };

    RtpRelay(RelayLegConfig a, RelayLegConfig b, RelayCodecMap map);
    ~RtpRelay();
    RtpRelay(const RtpRelay&) = delete;
    RtpRelay& operator=(const RtpRelay&) = delete;

    // Validates the map and creates the SRTP contexts and any transcoders. Errors:
    // errc::unsupported_suite / srtp_failure (bad keys), errc::unsupported_codec,
    // errc::invalid_argument (PT outside 0..127 or in the RTCP-conflicting 64..95 range,
    // duplicate PTs on one leg, audio mapped to telephone-event), errc::already_started.
    std::error_code start();
    bool started() const { return started_; }

    // A datagram that arrived on `from` (RTP or RTCP). Ignored before start().
    void on_packet(Side from, std::span<const uint8_t> datagram);

    const Stats& stats() const { return stats_; }

    // Largest datagram accepted.
    static constexpr size_t kMaxDatagram = 2048;

  private:
    struct Route;  // one payload type in one direction
    struct Leg;
    void forward_rtcp(Leg& in, Leg& out, size_t len);
    void count_refused(std::error_code ec);  // an SRTP/SRTCP packet libsrtp2 refused
    void transcode(Route& r, Leg& out, const RtpHeader& h, bool a_to_b);
    bool send_on(Leg& out, uint8_t* buf, size_t len, size_t capacity, bool rtcp);

    std::unique_ptr<Leg> a_, b_;
    RelayCodecMap map_;
    std::vector<Route> routes_;  // both directions; built by start()
    // Lookup by (direction, incoming PT): index into routes_ + 1, 0 = unmapped.
    std::array<std::array<uint16_t, 128>, 2> route_index_{};
    bool started_ = false;
    Stats stats_;
    std::array<uint8_t, kMaxDatagram + kSrtpMaxOverhead> buf_{};
    std::array<uint8_t, kRtpHeaderSize + 4 * kRtpMaxCsrc + kMaxEncodedFrame + kSrtpMaxOverhead>
        out_buf_{};
};

}  // namespace p2psip::media
