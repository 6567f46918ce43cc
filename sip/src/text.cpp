#include "text.hpp"

namespace p2psip::sip::detail {

std::string to_lower(std::string_view s) {
    std::string r(s);
    for (auto& c : r) c = lower(c);
    return r;
}

static int hexval(char c) {
    if (is_digit(c)) return c - '0';
    return lower(c) - 'a' + 10;
}

bool valid_escapes(std::string_view s) {
    for (std::size_t i = s.find('%'); i != std::string_view::npos; i = s.find('%', i + 3))
        if (i + 2 >= s.size() || !is_hex(s[i + 1]) || !is_hex(s[i + 2])) return false;
    return true;
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
    for_each_element(s, sep, [&](std::string_view e) {
        parts.push_back(e);
        return true;
    });
    return parts;
}

}  // namespace p2psip::sip::detail
