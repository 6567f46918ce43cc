#pragma once
// Small text helpers shared by the parsers (private).

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace p2psip::sip::detail {

inline char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
inline bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
inline bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
inline bool is_alnum(char c) {
    return is_alpha(c) || is_digit(c);
}
inline bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
inline bool is_ws(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool iequals(std::string_view a, std::string_view b);
std::string to_lower(std::string_view s);
std::string_view trim(std::string_view s);

// RFC 3261 §25.1 token characters.
bool is_token_char(char c);
bool is_token(std::string_view s);

// unreserved = alphanum / mark (RFC 3261 §25.1)
bool is_unreserved(char c);

template <typename T>
bool parse_uint(std::string_view s, T& out) {
    if (s.empty()) return false;
    for (char c : s)
        if (!is_digit(c)) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && p == s.data() + s.size();
}

// Percent-decoding; false on a malformed escape.
bool unescape(std::string_view in, std::string& out);

// Splits `s` at `sep` characters that are outside quoted strings and <...>.
std::vector<std::string_view> split_outside_quotes(std::string_view s, char sep);

// Parses ";name[=value]" parameter lists (LWS allowed around ';' and '=', values may be
// quoted strings, kept with their quotes). Returns false on syntax errors.
using ParamViews = std::vector<std::pair<std::string_view, std::string_view>>;
bool parse_params(std::string_view s, ParamViews& out);

// Finds the end of a quoted string starting at s[0]=='"'; npos if unterminated.
std::size_t quoted_end(std::string_view s);

}  // namespace p2psip::sip::detail
