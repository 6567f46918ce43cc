#include "text.hpp"

#include <cstring>

namespace p2psip::sip::detail {

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

std::string to_lower(std::string_view s) {
    std::string r(s);
    for (auto& c : r) c = lower(c);
    return r;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_ws(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ws(s.back())) s.remove_suffix(1);
    return s;
}

bool is_token_char(char c) {
    return is_alnum(c) || (c != 0 && std::strchr("-.!%*_+`'~", c) != nullptr);
}

bool is_token(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!is_token_char(c)) return false;
    return true;
}

bool is_unreserved(char c) {
    return is_alnum(c) || (c != 0 && std::strchr("-_.!~*'()", c) != nullptr);
}

static int hexval(char c) {
    if (is_digit(c)) return c - '0';
    return lower(c) - 'a' + 10;
}

bool unescape(std::string_view in, std::string& out) {
    out.clear();
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '%') {
            if (i + 2 >= in.size()) return false;
            if (!is_hex(in[i + 1]) || !is_hex(in[i + 2])) return false;
            out.push_back(static_cast<char>(hexval(in[i + 1]) * 16 + hexval(in[i + 2])));
            i += 2;
        } else {
            out.push_back(in[i]);
        }
    }
    return true;
}

std::size_t quoted_end(std::string_view s) {
    for (std::size_t i = 1; i < s.size(); ++i) {
        if (s[i] == '\\') {
            ++i;
        } else if (s[i] == '"') {
            return i;
        }
    }
    return std::string_view::npos;
}

std::vector<std::string_view> split_outside_quotes(std::string_view s, char sep) {
    std::vector<std::string_view> parts;
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
            parts.push_back(trim(s.substr(start, i - start)));
            start = i + 1;
        }
    }
    parts.push_back(trim(s.substr(start)));
    return parts;
}

bool parse_params(std::string_view s, ParamViews& out) {
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
        out.emplace_back(name, value);
    }
    return true;
}

}  // namespace p2psip::sip::detail
