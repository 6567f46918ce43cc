#include "p2psip/media/dtmf.hpp"

#include "byte_order.hpp"
#include "p2psip/media/error.hpp"

namespace p2psip::media {

std::optional<uint8_t> dtmf_event_code(char digit) noexcept {
    // RFC 4733 §3.2, Table 7.
    if (digit >= '0' && digit <= '9') return static_cast<uint8_t>(digit - '0');
    if (digit == '*') return 10;
    if (digit == '#') return 11;
    if (digit >= 'A' && digit <= 'D') return static_cast<uint8_t>(12 + (digit - 'A'));
    if (digit >= 'a' && digit <= 'd') return static_cast<uint8_t>(12 + (digit - 'a'));
    return std::nullopt;
}

std::optional<char> dtmf_digit(uint8_t event) noexcept {
    static constexpr char kDigits[] = "0123456789*#ABCD";
    if (event > 15) return std::nullopt;
    return kDigits[event];
}

std::error_code parse_telephone_event(std::span<const uint8_t> payload, TelephoneEvent& out) {
    // RFC 4733 §2.3: event (8) | E (1) R (1) volume (6) | duration (16).
    if (payload.size() < kTelephoneEventSize) return errc::malformed_packet;
    TelephoneEvent e;
    e.event = payload[0];
    e.end = (payload[1] & 0x80) != 0;
    e.volume = payload[1] & 0x3f;
    e.duration = detail::load16(payload.data() + 2);
    out = e;
    return {};
}

std::error_code write_telephone_event(const TelephoneEvent& e, std::span<uint8_t> out,
                                      size_t& written) {
    if (e.volume > 63) return errc::invalid_argument;
    if (out.size() < kTelephoneEventSize) return errc::buffer_too_small;
    out[0] = e.event;
    out[1] = static_cast<uint8_t>((e.end ? 0x80 : 0) | e.volume);  // R = 0
    detail::store16(out.data() + 2, e.duration);
    written = kTelephoneEventSize;
    return {};
}

}  // namespace p2psip::media
