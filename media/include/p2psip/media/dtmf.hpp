#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>

namespace p2psip::media {

// RFC 4733 telephone-event, as negotiated in SDP: a=rtpmap:<pt> telephone-event/<clock> with
// the audio codec's clock (RFC 4733 §2.1: same SSRC, same timestamp clock) and a=fmtp:<pt> 0-15.
inline constexpr std::string_view kTelephoneEventName = "telephone-event";
inline constexpr std::string_view kTelephoneEventFmtp = "0-15";
inline constexpr size_t kTelephoneEventSize = 4;

// One event block, RFC 4733 §2.3.
struct TelephoneEvent {
    uint8_t event = 0;      // 0-9, 10 = *, 11 = #, 12-15 = A-D (§3.2)
    bool end = false;       // E bit: the last packet(s) of the event
    uint8_t volume = 10;    // 0..63, -dBm0 (DTMF: 0..-63 dBm0)
    uint16_t duration = 0;  // in timestamp units since the event's timestamp
};

// '0'-'9', '*', '#', 'A'-'D' (also lowercase) <-> event codes 0-15.
std::optional<uint8_t> dtmf_event_code(char digit) noexcept;
std::optional<char> dtmf_digit(uint8_t event) noexcept;

// The first event block of a telephone-event payload (redundant blocks are not used).
std::error_code parse_telephone_event(std::span<const uint8_t> payload, TelephoneEvent& out);
std::error_code write_telephone_event(const TelephoneEvent& e, std::span<uint8_t> out,
                                      size_t& written);

}  // namespace p2psip::media
