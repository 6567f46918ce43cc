#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace p2psip::nat {

// One ICE candidate as carried in SDP (RFC 8839 §5.1).
struct Candidate {
    std::string foundation;         // 1-32 ice-chars
    int component = 1;              // 1..256; we use one component (rtcp-mux)
    std::string transport = "UDP";  // upper-cased on parse
    uint32_t priority = 0;
    std::string address;  // IPv4/IPv6 literal (FQDN parses but libnice cannot use it)
    uint16_t port = 0;
    std::string type = "host";    // host|srflx|prflx|relay (lower-cased on parse)
    std::string related_address;  // raddr; empty when absent
    uint16_t related_port = 0;    // rport

    bool operator==(const Candidate&) const = default;
};

// The value after "a=candidate:", e.g. "1 1 UDP 2130706431 127.0.0.1 50000 typ host".
// raddr/rport are written for non-host candidates that have a related address.
std::string to_sdp_attribute_value(const Candidate& c);

// Parses an RFC 8839 §5.1 candidate attribute. Accepts the bare value, "candidate:<value>" or
// "a=candidate:<value>" (surrounding whitespace/CRLF ignored). Unknown extension attributes
// (generation, tcptype, ...) are skipped. On error `out` is left untouched.
// Errors: Errc::malformed_candidate, Errc::unsupported_candidate (unknown candidate type).
std::error_code parse_candidate_attribute(std::string_view text, Candidate& out);

// a=ice-ufrag / a=ice-pwd values (RFC 8839 §5.4).
struct IceCredentials {
    std::string ufrag, pwd;
    bool operator==(const IceCredentials&) const = default;
};

// RFC 8839 §5.4: ufrag 4-256 ice-chars, pwd 22-256 ice-chars; ice-char = ALPHA / DIGIT / "+" / "/".
// Returns Errc::invalid_credentials on violation.
std::error_code validate_credentials(const IceCredentials& creds);

// True when every character is an ice-char (RFC 8839 §5.1).
bool is_ice_chars(std::string_view s) noexcept;

}  // namespace p2psip::nat
