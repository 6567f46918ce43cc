#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace p2psip::sip {

// SIP / SIPS URI (RFC 3261 §19.1). Fields hold the text as written (user and parameters
// keep their %-escapes so that to_string() round-trips); `host` is stored without the
// brackets of an IPv6 reference ("::1"), `scheme` lower-cased, `port` 0 when absent.
// Any other absoluteURI (tel:, http:, urn:...; RFC 3261 §25.1) keeps only `scheme` and
// `opaque` (the text after the colon, as written): parse_uri() fills them and returns
// Errc::unsupported_scheme, so callers that need a SIP URI fail and others may go on.
struct Uri {
    std::string scheme;  // "sip" | "sips" | any other scheme, lower-cased
    std::string user, password, host;
    uint16_t port = 0;
    std::vector<std::pair<std::string, std::string>> params, headers;
    std::string opaque;  // non-SIP schemes only

    bool is_sip() const { return scheme == "sip" || scheme == "sips"; }

    std::string to_string() const;
    // Case-insensitive lookup of a uri-parameter; "" for a parameter without value.
    std::optional<std::string> param(std::string_view name) const;
    bool has_param(std::string_view name) const { return param(name).has_value(); }
    // "host" or "[v6]" (+ ":port" when present), as written in a URI or Via sent-by.
    std::string host_port() const;
};

// Errc::unsupported_scheme: a well-formed absoluteURI of another scheme (`out` filled).
std::error_code parse_uri(std::string_view text, Uri& out);

// Address-of-record key: "scheme:user@host", host lower-cased, user %-decoded (RFC 3261
// §19.1.4: escaped and unescaped forms compare equal; user is case-sensitive), no port or
// parameters. Characters that must stay escaped in a user part are re-escaped.
// A non-SIP URI gives "scheme:opaque".
std::string canonical_aor(const Uri& uri);
// Parses then canonicalises; empty string if `text` is not a valid sip/sips URI.
std::string canonical_aor(std::string_view text);

// name-addr / addr-spec with header parameters, as in From, To, Contact (RFC 3261 §20.10).
struct NameAddr {
    std::string display;  // unquoted and unescaped display name
    Uri uri;
    std::vector<std::pair<std::string, std::string>> params;  // header params (tag, expires, q..)

    std::optional<std::string> param(std::string_view name) const;
    std::optional<std::string> tag() const { return param("tag"); }
    // Always written in name-addr form: ["display" ]<uri>;params
    std::string to_string() const;
};

// Errc::unsupported_scheme when the URI is a well-formed non-SIP absoluteURI (RFC 4475
// §3.3.4): `out` is then complete (display, uri.scheme/opaque, params).
std::error_code parse_name_addr(std::string_view text, NameAddr& out);

}  // namespace p2psip::sip
