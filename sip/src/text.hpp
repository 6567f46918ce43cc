#pragma once
// Small text helpers shared by the parsers (private). Character classes are table lookups:
// the parser runs them on every octet of every message.

#include <array>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace p2psip::sip::detail {

// Character classes of RFC 3261 §25.1 (bit flags in one 256-entry table).
enum CharClass : uint16_t {
    kAlpha = 1 << 0,
    kDigit = 1 << 1,
    kHex = 1 << 2,
    kToken = 1 << 3,       // token
    kUnreserved = 1 << 4,  // alphanum / mark
    kUserUnres = 1 << 5,   // user-unreserved  & = + $ , ; ? /
    kPassword = 1 << 6,    // unreserved / escaped / & = + $ ,   ('%' included)
    kParamChar = 1 << 7,   // paramchar of uri-parameter ('%' included)
    kHeaderChar = 1 << 8,  // hnv-unreserved / unreserved / escaped ('%' included)
    kUric = 1 << 9,        // reserved / unreserved / escaped ('%' included)
    kHostChar = 1 << 10,   // alphanum - .
    kWs = 1 << 11,         // SP HT CR LF
};

constexpr std::array<uint16_t, 256> make_char_table() {
    std::array<uint16_t, 256> t{};
    auto add = [&t](std::string_view chars, uint16_t f) {
        for (char c : chars) t[static_cast<unsigned char>(c)] |= f;
    };
    for (int c = 'a'; c <= 'z'; ++c) t[c] |= kAlpha;
    for (int c = 'A'; c <= 'Z'; ++c) t[c] |= kAlpha;
    for (int c = '0'; c <= '9'; ++c) t[c] |= kDigit | kHex;
    add("abcdefABCDEF", kHex);
    for (int c = 0; c < 256; ++c)
        if (t[c] & (kAlpha | kDigit))
            t[c] |= kToken | kUnreserved | kPassword | kParamChar | kHeaderChar | kUric | kHostChar;
    constexpr std::string_view mark = "-_.!~*'()";
    add("-.!%*_+`'~", kToken);
    add(mark, kUnreserved | kPassword | kParamChar | kHeaderChar | kUric);
    add("&=+$,;?/", kUserUnres);
    add("%&=+$,", kPassword);
    add("%[]/:&+$", kParamChar);
    add("%[]/?:+$", kHeaderChar);
    add("%;/?:@&=+$,", kUric);
    add("-.", kHostChar);
    add(" \t\r\n", kWs);
    return t;
}
inline constexpr std::array<uint16_t, 256> kCharTable = make_char_table();

inline bool has_class(char c, uint16_t f) {
    return (kCharTable[static_cast<unsigned char>(c)] & f) != 0;
}
inline char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
inline bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
inline bool is_alpha(char c) {
    return has_class(c, kAlpha);
}
inline bool is_alnum(char c) {
    return has_class(c, kAlpha | kDigit);
}
inline bool is_hex(char c) {
    return has_class(c, kHex);
}
inline bool is_ws(char c) {
    return has_class(c, kWs);
}
// RFC 3261 §25.1 token characters.
inline bool is_token_char(char c) {
    return has_class(c, kToken);
}
// unreserved = alphanum / mark (RFC 3261 §25.1)
inline bool is_unreserved(char c) {
    return has_class(c, kUnreserved);
}

inline bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}
std::string to_lower(std::string_view s);
inline std::string_view trim(std::string_view s) {
    std::size_t b = 0, e = s.size();
    while (b < e && is_ws(s[b])) ++b;
    while (e > b && is_ws(s[e - 1])) --e;
    return s.substr(b, e - b);
}
// True when every character of `s` is in class `f`.
inline bool all_of_class(std::string_view s, uint16_t f) {
    for (char c : s)
        if (!has_class(c, f)) return false;
    return true;
}
// True when no character of `s` is in class `f`.
inline bool none_of_class(std::string_view s, uint16_t f) {
    for (char c : s)
        if (has_class(c, f)) return false;
    return true;
}
inline bool is_token(std::string_view s) {
    return !s.empty() && all_of_class(s, kToken);
}

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
// Every '%' starts a valid escape (no allocation).
bool valid_escapes(std::string_view s);

// Splits `s` at `sep` characters that are outside quoted strings and <...>.
std::vector<std::string_view> split_outside_quotes(std::string_view s, char sep);
// Iterates the same elements without allocating; `fn(element)` returns false to stop.
// Returns false when stopped.
template <typename Fn>
bool for_each_element(std::string_view s, char sep, Fn&& fn);

// Finds the end of a quoted string starting at s[0]=='"'; npos if unterminated.
std::size_t quoted_end(std::string_view s);

// Parses ";name[=value]" parameter lists (LWS allowed around ';' and '=', values may be
// quoted strings, kept with their quotes), calling fn(name, value) for each. Returns false
// on syntax errors.
template <typename Fn>
bool for_each_param(std::string_view s, Fn&& fn) {
    s = trim(s);
    while (!s.empty()) {
        if (s.front() != ';') return false;
        s = trim(s.substr(1));
        std::size_t i = 0;
        while (i < s.size() && is_token_char(s[i])) ++i;
        if (i == 0) return false;
        std::string_view name = s.substr(0, i);
        s = trim(s.substr(i));
        std::string_view value;
        if (!s.empty() && s.front() == '=') {
            s = trim(s.substr(1));
            if (!s.empty() && s.front() == '"') {
                auto e = quoted_end(s);
                if (e == std::string_view::npos) return false;
                value = s.substr(0, e + 1);
                s = trim(s.substr(e + 1));
            } else {
                std::size_t j = 0;
                // token / host (IPv6 reference allowed)
                while (j < s.size() &&
                       (is_token_char(s[j]) || s[j] == ':' || s[j] == '[' || s[j] == ']'))
                    ++j;
                if (j == 0) return false;
                value = s.substr(0, j);
                s = trim(s.substr(j));
            }
        }
        fn(name, value);
    }
    return true;
}

using ParamViews = std::vector<std::pair<std::string_view, std::string_view>>;
inline bool parse_params(std::string_view s, ParamViews& out) {
    return for_each_param(s,
                          [&](std::string_view n, std::string_view v) { out.emplace_back(n, v); });
}

template <typename Fn>
bool for_each_element(std::string_view s, char sep, Fn&& fn) {
    std::size_t start = 0;
    int angle = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '"') {
            auto e = quoted_end(s.substr(i));
            if (e == std::string_view::npos) break;
            i += e;
        } else if (c == '<') {
            ++angle;
        } else if (c == '>') {
            if (angle > 0) --angle;
        } else if (c == sep && angle == 0) {
            if (!fn(trim(s.substr(start, i - start)))) return false;
            start = i + 1;
        }
    }
    return fn(trim(s.substr(start)));
}

// Validation-only forms of parse_uri / parse_name_addr (same errors, no allocation).
std::error_code check_uri(std::string_view text, bool* has_headers = nullptr);
std::error_code check_name_addr(std::string_view text);

}  // namespace p2psip::sip::detail
