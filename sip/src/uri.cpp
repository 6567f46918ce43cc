#include "p2psip/sip/uri.hpp"

#include "p2psip/sip/error.hpp"
#include "text.hpp"

namespace p2psip::sip {
using namespace detail;

namespace {

bool valid_hostname(std::string_view h) {
    return !h.empty() && all_of_class(h, kHostChar) && h.front() != '.' && h.front() != '-';
}

bool valid_ipv6(std::string_view h) {
    if (h.size() < 2) return false;
    for (char c : h)
        if (!is_hex(c) && c != ':' && c != '.') return false;
    return h.find(':') != std::string_view::npos;
}

// One URI parser for both uses: Build=true fills a Uri, Build=false only validates (the
// message parser checks To/From/Contact on every message without allocating).
template <bool Build>
std::error_code parse_uri_impl(std::string_view s, Uri* out, bool* has_headers = nullptr) {
    if constexpr (Build) *out = Uri{};
    for (char c : s)
        if (static_cast<unsigned char>(c) <= ' ' || c == '<' || c == '>' || c == '"')
            return Errc::bad_uri;
    auto colon = s.find(':');
    if (colon == std::string_view::npos || colon == 0) return Errc::bad_uri;
    std::string_view scheme = s.substr(0, colon);
    if (!is_alpha(scheme.front())) return Errc::bad_uri;
    for (char c : scheme)
        if (!is_alnum(c) && c != '+' && c != '-' && c != '.') return Errc::bad_uri;
    if constexpr (Build) out->scheme = to_lower(scheme);
    s.remove_prefix(colon + 1);
    if (!iequals(scheme, "sip") && !iequals(scheme, "sips")) {
        // absoluteURI = scheme ":" ( hier-part / opaque-part ) (RFC 3261 §25.1)
        if (s.empty() || !all_of_class(s, kUric)) return Errc::bad_uri;
        if (!valid_escapes(s)) return Errc::bad_escape;
        if constexpr (Build) out->opaque = s;
        return Errc::unsupported_scheme;
    }

    // userinfo: the longest prefix of user/password characters followed by '@'.
    std::size_t i = 0;
    while (i < s.size() &&
           (has_class(s[i], kUnreserved | kUserUnres) || s[i] == '%' || s[i] == ':'))
        ++i;
    if (i < s.size() && s[i] == '@') {
        std::string_view userinfo = s.substr(0, i);
        std::string_view user = userinfo, password;
        if (auto pc = userinfo.find(':'); pc != std::string_view::npos) {
            user = userinfo.substr(0, pc);
            password = userinfo.substr(pc + 1);
            if (!all_of_class(password, kPassword)) return Errc::bad_uri_user;
            if (!valid_escapes(password)) return Errc::bad_escape;
        }
        if (user.empty()) return Errc::bad_uri_user;
        if (!valid_escapes(user)) return Errc::bad_escape;
        if constexpr (Build) {
            out->user = user;
            out->password = password;
        }
        s.remove_prefix(i + 1);
    }

    // host
    if (!s.empty() && s.front() == '[') {
        auto rb = s.find(']');
        if (rb == std::string_view::npos) return Errc::bad_host;
        std::string_view h = s.substr(1, rb - 1);
        if (!valid_ipv6(h)) return Errc::bad_host;
        if constexpr (Build) out->host = h;
        s.remove_prefix(rb + 1);
    } else {
        std::size_t j = 0;
        while (j < s.size() && s[j] != ':' && s[j] != ';' && s[j] != '?') ++j;
        std::string_view h = s.substr(0, j);
        if (!valid_hostname(h)) return Errc::bad_host;
        if constexpr (Build) out->host = h;
        s.remove_prefix(j);
    }
    // port
    if (!s.empty() && s.front() == ':') {
        std::size_t j = 1;
        while (j < s.size() && is_digit(s[j])) ++j;
        uint32_t port = 0;
        if (j == 1 || j > 6 || !parse_uint(s.substr(1, j - 1), port) || port > 65535)
            return Errc::bad_port;
        if constexpr (Build) out->port = static_cast<uint16_t>(port);
        s.remove_prefix(j);
    }
    // uri-parameters
    while (!s.empty() && s.front() == ';') {
        s.remove_prefix(1);
        std::size_t j = 0;
        while (j < s.size() && s[j] != ';' && s[j] != '?') ++j;
        std::string_view p = s.substr(0, j);
        s.remove_prefix(j);
        std::string_view name = p, value;
        if (auto eq = p.find('='); eq != std::string_view::npos) {
            name = p.substr(0, eq);
            value = p.substr(eq + 1);
            if (value.empty()) return Errc::bad_uri_param;
        }
        if (name.empty()) return Errc::bad_uri_param;
        if (!all_of_class(name, kParamChar) || !all_of_class(value, kParamChar))
            return Errc::bad_uri_param;
        if (!valid_escapes(name) || !valid_escapes(value)) return Errc::bad_escape;
        if constexpr (Build) out->params.emplace_back(name, value);
    }
    // headers
    if (!s.empty() && s.front() == '?') {
        if (has_headers) *has_headers = true;
        s.remove_prefix(1);
        while (true) {
            std::size_t j = s.find('&');
            std::string_view h = s.substr(0, j);
            auto eq = h.find('=');
            if (eq == std::string_view::npos || eq == 0) return Errc::bad_uri;
            if (!all_of_class(h.substr(0, eq), kHeaderChar) ||
                !all_of_class(h.substr(eq + 1), kHeaderChar))
                return Errc::bad_uri;
            if (!valid_escapes(h)) return Errc::bad_escape;
            if constexpr (Build) out->headers.emplace_back(h.substr(0, eq), h.substr(eq + 1));
            if (j == std::string_view::npos) break;
            s.remove_prefix(j + 1);
        }
        s = {};
    }
    if (!s.empty()) return Errc::bad_uri;
    return {};
}

template <bool Build>
std::error_code parse_name_addr_impl(std::string_view s, NameAddr* out) {
    if constexpr (Build) *out = NameAddr{};
    s = trim(s);
    if (s.empty()) return Errc::bad_name_addr;
    std::string_view rest;
    std::error_code uri_ec;
    Uri* uri = nullptr;
    if constexpr (Build) uri = &out->uri;
    if (s.front() == '"' || s.find('<') != std::string_view::npos) {
        // name-addr = [ display-name ] LAQUOT addr-spec RAQUOT
        if (s.front() == '"') {
            auto e = quoted_end(s);
            if (e == std::string_view::npos) return Errc::bad_name_addr;
            if constexpr (Build) {
                std::string_view q = s.substr(1, e - 1);
                for (std::size_t i = 0; i < q.size(); ++i) {
                    if (q[i] == '\\' && i + 1 < q.size()) ++i;
                    out->display += q[i];
                }
            }
            s = trim(s.substr(e + 1));
            if (s.empty() || s.front() != '<') return Errc::bad_name_addr;
        } else {
            auto lt = s.find('<');
            std::string_view d = trim(s.substr(0, lt));
            for (char c : d)
                if (!is_token_char(c) && c != ' ' && c != '\t') return Errc::bad_name_addr;
            if constexpr (Build) {
                // Collapse internal LWS to single spaces.
                bool space = false;
                for (char c : d) {
                    if (c == ' ' || c == '\t') {
                        space = true;
                        continue;
                    }
                    if (space && !out->display.empty()) out->display += ' ';
                    space = false;
                    out->display += c;
                }
            }
            s = s.substr(lt);
        }
        auto gt = s.find('>');
        if (gt == std::string_view::npos) return Errc::bad_name_addr;
        uri_ec = parse_uri_impl<Build>(s.substr(1, gt - 1), uri);
        if (uri_ec && uri_ec != Errc::unsupported_scheme) return uri_ec;
        rest = s.substr(gt + 1);
    } else {
        // addr-spec: parameters after the URI belong to the header (RFC 3261 §20.10).
        auto at = s.find('@');
        auto semi = s.find(';', at == std::string_view::npos ? 0 : at);
        std::string_view u = s.substr(0, semi);
        if (u.find('?') != std::string_view::npos || u.find(',') != std::string_view::npos)
            return Errc::bad_name_addr;
        uri_ec = parse_uri_impl<Build>(trim(u), uri);
        if (uri_ec && uri_ec != Errc::unsupported_scheme) return uri_ec;
        rest = semi == std::string_view::npos ? std::string_view{} : s.substr(semi);
    }
    bool ok = for_each_param(rest, [&](std::string_view n, std::string_view v) {
        if constexpr (Build) out->params.emplace_back(std::string(n), std::string(v));
    });
    if (!ok) return Errc::bad_name_addr;
    return uri_ec;
}

}  // namespace

std::error_code parse_uri(std::string_view s, Uri& out) {
    return parse_uri_impl<true>(s, &out);
}

std::error_code parse_name_addr(std::string_view s, NameAddr& out) {
    return parse_name_addr_impl<true>(s, &out);
}

namespace detail {
std::error_code check_uri(std::string_view s, bool* has_headers) {
    if (has_headers) *has_headers = false;
    return parse_uri_impl<false>(s, nullptr, has_headers);
}
std::error_code check_name_addr(std::string_view s) {
    return parse_name_addr_impl<false>(s, nullptr);
}
}  // namespace detail

std::string Uri::host_port() const {
    std::string r;
    if (host.find(':') != std::string::npos) {
        r = "[" + host + "]";
    } else {
        r = host;
    }
    if (port != 0) r += ":" + std::to_string(port);
    return r;
}

std::string Uri::to_string() const {
    std::string r = scheme + ":";
    if (!is_sip()) return r + opaque;
    if (!user.empty()) {
        r += user;
        if (!password.empty()) r += ":" + password;
        r += "@";
    }
    r += host_port();
    for (const auto& [n, v] : params) {
        r += ";" + n;
        if (!v.empty()) r += "=" + v;
    }
    char sep = '?';
    for (const auto& [n, v] : headers) {
        r += sep;
        r += n + "=" + v;
        sep = '&';
    }
    return r;
}

std::optional<std::string> Uri::param(std::string_view name) const {
    for (const auto& [n, v] : params)
        if (iequals(n, name)) return v;
    return std::nullopt;
}

std::string canonical_aor(const Uri& uri) {
    static const char* hex = "0123456789ABCDEF";
    std::string r = uri.scheme + ":";
    if (!uri.is_sip()) return r + uri.opaque;
    if (!uri.user.empty()) {
        std::string user;
        if (!unescape(uri.user, user)) user = uri.user;
        for (char c : user) {
            if (has_class(c, kUnreserved | kUserUnres)) {
                r += c;
            } else {
                auto u = static_cast<unsigned char>(c);
                r += '%';
                r += hex[u >> 4];
                r += hex[u & 15];
            }
        }
        r += "@";
    }
    std::string host = to_lower(uri.host);
    r += host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return r;
}

std::string canonical_aor(std::string_view text) {
    Uri u;
    if (parse_uri(text, u)) return {};
    return canonical_aor(u);
}

std::optional<std::string> NameAddr::param(std::string_view name) const {
    for (const auto& [n, v] : params)
        if (iequals(n, name)) return v;
    return std::nullopt;
}

std::string NameAddr::to_string() const {
    std::string r;
    if (!display.empty()) {
        r += '"';
        for (char c : display) {
            if (c == '"' || c == '\\') r += '\\';
            r += c;
        }
        r += "\" ";
    }
    r += "<" + uri.to_string() + ">";
    for (const auto& [n, v] : params) {
        r += ";" + n;
        if (!v.empty()) r += "=" + v;
    }
    return r;
}

}  // namespace p2psip::sip
