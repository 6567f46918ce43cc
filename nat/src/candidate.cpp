#include "p2psip/nat/candidate.hpp"

#include <arpa/inet.h>

#include <array>
#include <cctype>
#include <charconv>
#include <cstring>
#include <vector>

#include "p2psip/nat/error.hpp"

namespace p2psip::nat {
namespace {

bool is_ws(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_ws(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ws(s.back())) s.remove_suffix(1);
    return s;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    }
    return true;
}

bool consume_prefix_icase(std::string_view& s, std::string_view prefix) {
    if (s.size() < prefix.size() || !iequals(s.substr(0, prefix.size()), prefix)) return false;
    s.remove_prefix(prefix.size());
    return true;
}

// RFC 4566 §9 token-char.
bool is_token_char(char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c == 0x21 || (c >= 0x23 && c <= 0x27) || c == 0x2A || c == 0x2B || c == 0x2D ||
           c == 0x2E || (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) ||
           (c >= 0x5E && c <= 0x7E);
}

bool is_token(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!is_token_char(c)) return false;
    return true;
}

// Parses 1..max_digits decimal digits into an unsigned value no larger than `limit`.
bool parse_uint(std::string_view s, size_t max_digits, uint64_t limit, uint64_t& out) {
    if (s.empty() || s.size() > max_digits) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    uint64_t v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || ptr != s.data() + s.size() || v > limit) return false;
    out = v;
    return true;
}

bool is_ip_literal(std::string_view s) {
    std::array<char, 64> buf{};
    if (s.empty() || s.size() >= buf.size()) return false;
    std::memcpy(buf.data(), s.data(), s.size());
    unsigned char addr[16];
    return inet_pton(AF_INET, buf.data(), addr) == 1 || inet_pton(AF_INET6, buf.data(), addr) == 1;
}

// RFC 8839 §5.1 connection-address: IPv4, IPv6 or FQDN (RFC 4566 §9).
bool is_connection_address(std::string_view s) {
    if (is_ip_literal(s)) return true;
    if (s.empty() || s.size() > 255 || s.front() == '.' || s.front() == '-') return false;
    for (char c : s) {
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.')) return false;
    }
    return true;
}

std::string to_upper(std::string_view s) {
    std::string r(s);
    for (auto& c : r) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return r;
}

std::string to_lower(std::string_view s) {
    std::string r(s);
    for (auto& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return r;
}

}  // namespace

bool is_ice_chars(std::string_view s) noexcept {
    for (char c : s) {
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/')) return false;
    }
    return true;
}

std::string to_sdp_attribute_value(const Candidate& c) {
    std::string s;
    s.reserve(96);
    s += c.foundation;
    s += ' ';
    s += std::to_string(c.component);
    s += ' ';
    s += c.transport;
    s += ' ';
    s += std::to_string(c.priority);
    s += ' ';
    s += c.address;
    s += ' ';
    s += std::to_string(c.port);
    s += " typ ";
    s += c.type;
    // RFC 8839 §5.1: rel-addr/rel-port carry the base for srflx/prflx/relay candidates.
    if (c.type != "host" && !c.related_address.empty()) {
        s += " raddr ";
        s += c.related_address;
        s += " rport ";
        s += std::to_string(c.related_port);
    }
    return s;
}

std::error_code parse_candidate_attribute(std::string_view text, Candidate& out) {
    std::string_view s = trim(text);
    consume_prefix_icase(s, "a=");
    consume_prefix_icase(s, "candidate:");

    // Fields are SP separated; tolerate repeated blanks.
    std::vector<std::string_view> tok;
    tok.reserve(16);
    while (!s.empty()) {
        while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
        if (s.empty()) break;
        size_t n = 0;
        while (n < s.size() && s[n] != ' ' && s[n] != '\t') ++n;
        tok.push_back(s.substr(0, n));
        s.remove_prefix(n);
    }
    const auto bad = make_error_code(Errc::malformed_candidate);
    // foundation component transport priority address port "typ" type
    if (tok.size() < 8) return bad;

    Candidate c;
    // RFC 8839 §5.1: foundation = 1*32ice-char
    if (tok[0].empty() || tok[0].size() > 32 || !is_ice_chars(tok[0])) return bad;
    c.foundation = std::string(tok[0]);

    uint64_t v = 0;
    // component-id = 1*3DIGIT, 1..256 (RFC 8445 §5.1.1.1 allows at most 256 components)
    if (!parse_uint(tok[1], 3, 256, v) || v == 0) return bad;
    c.component = static_cast<int>(v);

    // transport = "UDP" / transport-extension(token); case-insensitive literal
    if (!is_token(tok[2])) return bad;
    c.transport = to_upper(tok[2]);

    // priority = 1*10DIGIT, a 32-bit value (RFC 8445 §5.1.2)
    if (!parse_uint(tok[3], 10, UINT32_MAX, v)) return bad;
    c.priority = static_cast<uint32_t>(v);

    if (!is_connection_address(tok[4])) return bad;
    c.address = std::string(tok[4]);

    if (!parse_uint(tok[5], 5, 65535, v)) return bad;
    c.port = static_cast<uint16_t>(v);

    if (!iequals(tok[6], "typ") || !is_token(tok[7])) return bad;
    c.type = to_lower(tok[7]);

    // Remaining: [raddr X] [rport Y] *(extension-att-name SP extension-att-value)
    if ((tok.size() - 8) % 2 != 0) return bad;
    for (size_t i = 8; i < tok.size(); i += 2) {
        const auto name = tok[i];
        const auto value = tok[i + 1];
        if (iequals(name, "raddr")) {
            if (!is_connection_address(value)) return bad;
            c.related_address = std::string(value);
        } else if (iequals(name, "rport")) {
            if (!parse_uint(value, 5, 65535, v)) return bad;
            c.related_port = static_cast<uint16_t>(v);
        } else if (!is_token(name) || value.empty()) {
            return bad;
        }
        // Other extensions (generation, tcptype, network-id, ...) are ignored.
    }

    // RFC 8839 §5.1: unknown candidate types must be ignored by the receiver.
    if (c.type != "host" && c.type != "srflx" && c.type != "prflx" && c.type != "relay")
        return make_error_code(Errc::unsupported_candidate);

    out = std::move(c);
    return {};
}

std::error_code validate_credentials(const IceCredentials& creds) {
    // RFC 8839 §5.4: ice-ufrag = 4*256ice-char, ice-pwd = 22*256ice-char
    const bool ok = creds.ufrag.size() >= 4 && creds.ufrag.size() <= 256 &&
                    is_ice_chars(creds.ufrag) && creds.pwd.size() >= 22 &&
                    creds.pwd.size() <= 256 && is_ice_chars(creds.pwd);
    return ok ? std::error_code{} : make_error_code(Errc::invalid_credentials);
}

}  // namespace p2psip::nat
