#include "p2psip/sip/digest.hpp"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include <array>
#include <string>

#include "p2psip/sip/error.hpp"
#include "text.hpp"

namespace p2psip::sip {
namespace {

std::string hex_hash(DigestAlgorithm a, std::string_view data) {
    std::array<unsigned char, 32> out{};
    const auto alg = a == DigestAlgorithm::md5 ? GNUTLS_DIG_MD5 : GNUTLS_DIG_SHA256;
    const size_t n = a == DigestAlgorithm::md5 ? 16 : 32;
    if (gnutls_hash_fast(alg, data.data(), data.size(), out.data()) < 0) return {};
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(2 * n);
    for (size_t i = 0; i < n; ++i) {
        hex += kHex[out[i] >> 4];
        hex += kHex[out[i] & 15];
    }
    return hex;
}

// RFC 3261 §25.1 quoted-string: strips the quotes and the quoted-pair backslashes.
std::string unquote(std::string_view v) {
    if (v.size() < 2 || v.front() != '"' || v.back() != '"') return std::string(v);
    std::string out;
    for (size_t i = 1; i + 1 < v.size(); ++i) {
        if (v[i] == '\\' && i + 2 < v.size()) ++i;
        out += v[i];
    }
    return out;
}

std::string quote(std::string_view v) {
    std::string out = "\"";
    for (char c : v) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + '"';
}

bool parse_algorithm(std::string_view v, DigestAlgorithm& out) {
    if (detail::iequals(v, "MD5")) {
        out = DigestAlgorithm::md5;
    } else if (detail::iequals(v, "SHA-256")) {
        out = DigestAlgorithm::sha256;
    } else {
        return false;  // -sess variants and others: not supported
    }
    return true;
}

// "Digest a=b, c="d"": calls fn(name, unquoted value) per parameter (RFC 3261 §25.1
// challenge / credentials). False when the scheme is not Digest or the list is malformed.
template <typename Fn>
bool for_each_auth_param(std::string_view value, Fn&& fn) {
    value = detail::trim(value);
    if (value.size() < 7 || !detail::iequals(value.substr(0, 6), "Digest") ||
        (value[6] != ' ' && value[6] != '\t'))
        return false;
    bool ok = true;
    detail::for_each_element(value.substr(7), ',', [&](std::string_view item) {
        if (item.empty()) return true;
        const auto eq = item.find('=');
        if (eq == std::string_view::npos || eq == 0) {
            ok = false;
            return false;
        }
        fn(detail::trim(item.substr(0, eq)), unquote(detail::trim(item.substr(eq + 1))));
        return true;
    });
    return ok;
}

}  // namespace

std::string_view to_string(DigestAlgorithm a) {
    return a == DigestAlgorithm::md5 ? "MD5" : "SHA-256";
}

std::string format_challenge(const DigestChallenge& c) {
    std::string v = "Digest realm=" + quote(c.realm) + ", nonce=" + quote(c.nonce) +
                    ", algorithm=" + std::string(to_string(c.algorithm)) + ", qop=\"auth\"";
    if (!c.opaque.empty()) v += ", opaque=" + quote(c.opaque);
    if (c.stale) v += ", stale=true";
    return v;
}

std::error_code parse_challenge(std::string_view value, DigestChallenge& out) {
    DigestChallenge c;
    c.algorithm = DigestAlgorithm::md5;  // RFC 7616 §3.3: MD5 when absent
    bool bad_algorithm = false;
    const bool ok = for_each_auth_param(value, [&](std::string_view n, std::string v) {
        if (detail::iequals(n, "realm")) {
            c.realm = std::move(v);
        } else if (detail::iequals(n, "nonce")) {
            c.nonce = std::move(v);
        } else if (detail::iequals(n, "opaque")) {
            c.opaque = std::move(v);
        } else if (detail::iequals(n, "stale")) {
            c.stale = detail::iequals(v, "true");
        } else if (detail::iequals(n, "algorithm")) {
            bad_algorithm = !parse_algorithm(v, c.algorithm);
        }
    });
    if (!ok || bad_algorithm || c.realm.empty() || c.nonce.empty()) return Errc::bad_digest;
    out = std::move(c);
    return {};
}

std::error_code parse_credentials(std::string_view value, DigestCredentials& out) {
    DigestCredentials c;
    bool bad_algorithm = false;
    const bool ok = for_each_auth_param(value, [&](std::string_view n, std::string v) {
        if (detail::iequals(n, "username"))
            c.username = std::move(v);
        else if (detail::iequals(n, "realm"))
            c.realm = std::move(v);
        else if (detail::iequals(n, "nonce"))
            c.nonce = std::move(v);
        else if (detail::iequals(n, "uri"))
            c.uri = std::move(v);
        else if (detail::iequals(n, "response"))
            c.response = std::move(v);
        else if (detail::iequals(n, "cnonce"))
            c.cnonce = std::move(v);
        else if (detail::iequals(n, "nc"))
            c.nc = std::move(v);
        else if (detail::iequals(n, "qop"))
            c.qop = std::move(v);
        else if (detail::iequals(n, "opaque"))
            c.opaque = std::move(v);
        else if (detail::iequals(n, "algorithm"))
            bad_algorithm = !parse_algorithm(v, c.algorithm);
    });
    // RFC 7616 §3.4: with qop, cnonce and nc are required.
    if (!ok || bad_algorithm || c.username.empty() || c.nonce.empty() || c.uri.empty() ||
        c.response.empty() || (!c.qop.empty() && (c.cnonce.empty() || c.nc.empty())))
        return Errc::bad_digest;
    out = std::move(c);
    return {};
}

std::string format_credentials(const DigestCredentials& c) {
    std::string v = "Digest username=" + quote(c.username) + ", realm=" + quote(c.realm) +
                    ", nonce=" + quote(c.nonce) + ", uri=" + quote(c.uri) +
                    ", response=" + quote(c.response) +
                    ", algorithm=" + std::string(to_string(c.algorithm));
    if (!c.qop.empty()) v += ", qop=" + c.qop + ", nc=" + c.nc + ", cnonce=" + quote(c.cnonce);
    if (!c.opaque.empty()) v += ", opaque=" + quote(c.opaque);
    return v;
}

std::string digest_response(DigestAlgorithm algorithm, std::string_view username,
                            std::string_view realm, std::string_view password,
                            std::string_view method, std::string_view uri, std::string_view nonce,
                            std::string_view nc, std::string_view cnonce, std::string_view qop) {
    const auto join = [](std::initializer_list<std::string_view> parts) {
        std::string s;
        bool first = true;
        for (auto p : parts) {
            if (!first) s += ':';
            s += p;
            first = false;
        }
        return s;
    };
    const std::string ha1 = hex_hash(algorithm, join({username, realm, password}));
    const std::string ha2 = hex_hash(algorithm, join({method, uri}));
    if (qop.empty()) return hex_hash(algorithm, join({ha1, nonce, ha2}));  // RFC 2069
    return hex_hash(algorithm, join({ha1, nonce, nc, cnonce, qop, ha2}));
}

bool verify_credentials(const DigestCredentials& c, std::string_view method,
                        std::string_view password) {
    if (!c.qop.empty() && !detail::iequals(c.qop, "auth")) return false;  // auth-int: no
    const std::string expected = digest_response(c.algorithm, c.username, c.realm, password, method,
                                                 c.uri, c.nonce, c.nc, c.cnonce, c.qop);
    if (expected.empty() || expected.size() != c.response.size()) return false;
    unsigned char diff = 0;  // constant time: no early exit on the first differing byte
    for (size_t i = 0; i < expected.size(); ++i)
        diff |= static_cast<unsigned char>(
            expected[i] ^
            static_cast<char>(std::tolower(static_cast<unsigned char>(c.response[i]))));
    return diff == 0;
}

DigestCredentials answer_challenge(const DigestChallenge& challenge, std::string_view username,
                                   std::string_view password, std::string_view method,
                                   std::string_view uri, std::string_view cnonce,
                                   unsigned nonce_count) {
    DigestCredentials c;
    c.username = username;
    c.realm = challenge.realm;
    c.nonce = challenge.nonce;
    c.uri = uri;
    c.algorithm = challenge.algorithm;
    c.opaque = challenge.opaque;
    c.qop = "auth";
    c.cnonce = cnonce;
    char nc[9];
    std::snprintf(nc, sizeof nc, "%08x", nonce_count);
    c.nc = nc;
    c.response = digest_response(c.algorithm, c.username, c.realm, password, method, c.uri, c.nonce,
                                 c.nc, c.cnonce, c.qop);
    return c;
}

}  // namespace p2psip::sip
