#pragma once

#include <string>
#include <string_view>
#include <system_error>

namespace p2psip::sip {

// HTTP Digest authentication as SIP uses it (RFC 3261 §22.4, RFC 8760 for SHA-256; the
// computation is RFC 7616 §3.4.1 with qop=auth). For a registrar challenging phones and for
// a UA answering a challenge.
enum class DigestAlgorithm { md5, sha256 };
std::string_view to_string(DigestAlgorithm a);  // "MD5", "SHA-256"

// A WWW-Authenticate / Proxy-Authenticate challenge.
struct DigestChallenge {
    std::string realm;
    std::string nonce;
    std::string opaque;  // optional
    DigestAlgorithm algorithm = DigestAlgorithm::sha256;
    bool stale = false;  // RFC 7616 §3.3: the nonce expired, the password was right
};
// The header value: Digest realm="...", nonce="...", algorithm=SHA-256, qop="auth"[, ...].
std::string format_challenge(const DigestChallenge& c);
// Parses a header value; Errc::malformed for anything that is not a Digest challenge with
// realm and nonce, or names an algorithm other than MD5 / SHA-256.
std::error_code parse_challenge(std::string_view value, DigestChallenge& out);

// An Authorization / Proxy-Authorization header's Digest credentials.
struct DigestCredentials {
    std::string username, realm, nonce, uri, response, cnonce, nc, qop, opaque;
    DigestAlgorithm algorithm = DigestAlgorithm::md5;  // RFC 7616 §3.4: MD5 when absent
};
std::error_code parse_credentials(std::string_view value, DigestCredentials& out);
std::string format_credentials(const DigestCredentials& c);

// The response value (lowercase hex): with qop "auth" RFC 7616 §3.4.1, without qop the
// RFC 2069 form that RFC 3261 §22.4 still allows.
std::string digest_response(DigestAlgorithm algorithm, std::string_view username,
                            std::string_view realm, std::string_view password,
                            std::string_view method, std::string_view uri, std::string_view nonce,
                            std::string_view nc, std::string_view cnonce, std::string_view qop);

// Whether `c` proves knowledge of `password` for a request with this method (the caller
// checks realm, nonce freshness and username itself). Constant-time comparison.
bool verify_credentials(const DigestCredentials& c, std::string_view method,
                        std::string_view password);

// A UA's answer to `challenge`: credentials for method/uri with qop=auth.
DigestCredentials answer_challenge(const DigestChallenge& challenge, std::string_view username,
                                   std::string_view password, std::string_view method,
                                   std::string_view uri, std::string_view cnonce,
                                   unsigned nonce_count = 1);

}  // namespace p2psip::sip
