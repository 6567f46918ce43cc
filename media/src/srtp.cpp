#include "p2psip/media/srtp.hpp"

#include <srtp2/srtp.h>

#include <charconv>
#include <climits>
#include <mutex>
#include <span>
#include <utility>

#include "p2psip/media/error.hpp"
#include "random.hpp"
#include "text.hpp"

namespace p2psip::media {
namespace {

static_assert(kSrtpMaxOverhead == SRTP_MAX_TRAILER_LEN + 4);

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(std::span<const uint8_t> in) {
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        const uint32_t v = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8) | in[i + 2];
        out += kB64[v >> 18];
        out += kB64[(v >> 12) & 63];
        out += kB64[(v >> 6) & 63];
        out += kB64[v & 63];
    }
    if (i < in.size()) {
        uint32_t v = uint32_t{in[i]} << 16;
        if (i + 1 < in.size()) v |= uint32_t{in[i + 1]} << 8;
        out += kB64[v >> 18];
        out += kB64[(v >> 12) & 63];
        out += (i + 1 < in.size()) ? kB64[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

int b64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

// Strict decode of exactly out.size() bytes (padding required when the length needs it).
bool base64_decode_exact(std::string_view in, std::span<uint8_t> out) {
    if (in.size() != (out.size() + 2) / 3 * 4) return false;
    size_t o = 0;
    for (size_t i = 0; i < in.size(); i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (size_t k = 0; k < 4; ++k) {
            const char c = in[i + k];
            if (c == '=') {
                if (i + 4 != in.size() || k < 2) return false;
                ++pad;
                v <<= 6;
                continue;
            }
            if (pad) return false;  // data after '='
            const int d = b64_value(c);
            if (d < 0) return false;
            v = (v << 6) | static_cast<uint32_t>(d);
        }
        const uint8_t bytes[3] = {static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8),
                                  static_cast<uint8_t>(v)};
        for (int k = 0; k < 3 - pad; ++k) {
            if (o >= out.size()) return false;
            out[o++] = bytes[k];
        }
    }
    return o == out.size();
}

using detail::trim;

std::string_view next_token(std::string_view& s) {
    s = trim(s);
    const size_t sp = s.find_first_of(" \t");
    std::string_view tok = s.substr(0, sp);
    s = sp == std::string_view::npos ? std::string_view{} : s.substr(sp);
    return tok;
}

bool set_policy(std::string_view suite, srtp_policy_t& p) {
    if (suite == kSuiteAesCm128Sha1_80) {
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtcp);
    } else if (suite == kSuiteAesCm128Sha1_32) {
        // RFC 4568 §6.2.2 / RFC 5764 §4.1.2: SRTCP keeps the 80-bit tag.
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&p.rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtcp);
    } else if (suite == kSuiteAeadAes128Gcm) {
        // RFC 7714 §14.2: AEAD_AES_128_GCM for both SRTP and SRTCP, 16-byte tag.
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&p.rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&p.rtcp);
    } else {
        return false;
    }
    return true;
}

// Whether this libsrtp2 build can create a GCM session (it needs the OpenSSL/NSS backend).
bool gcm_available() noexcept {
    static const bool available = [] {
        if (srtp_init()) return false;
        srtp_policy_t policy{};
        if (!set_policy(kSuiteAeadAes128Gcm, policy)) return false;
        std::array<uint8_t, kSrtpKeySaltSize> key{};
        for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i + 1);
        policy.ssrc.type = ssrc_any_outbound;
        policy.key = key.data();
        policy.window_size = 1024;
        srtp_t session = nullptr;
        if (srtp_create(&session, &policy) != srtp_err_status_ok) return false;
        // A protect call proves the cipher really works, not just that the policy was accepted.
        std::array<uint8_t, 12 + 8 + SRTP_MAX_TRAILER_LEN> pkt{0x80, 0, 0, 1, 0, 0,
                                                               0,    1, 0, 0, 0, 1};
        int len = 20;
        const bool ok =
            srtp_protect(session, pkt.data(), &len) == srtp_err_status_ok && len == 20 + 16;
        srtp_dealloc(session);
        return ok;
    }();
    return available;
}

std::error_code map_status(srtp_err_status_t st) {
    switch (st) {
        case srtp_err_status_ok:
            return {};
        case srtp_err_status_auth_fail:
            return errc::srtp_auth_failed;
        case srtp_err_status_replay_fail:
        case srtp_err_status_replay_old:
            return errc::srtp_replay;
        case srtp_err_status_bad_param:
            return errc::malformed_packet;
        default:
            return errc::srtp_failure;
    }
}

}  // namespace

std::error_code srtp_init() {
    static std::once_flag once;
    static srtp_err_status_t status = srtp_err_status_ok;
    std::call_once(once, [] { status = ::srtp_init(); });
    return status == srtp_err_status_ok ? std::error_code{} : make_error_code(errc::srtp_failure);
}

size_t srtp_key_salt_size(std::string_view suite) noexcept {
    if (suite == kSuiteAesCm128Sha1_80 || suite == kSuiteAesCm128Sha1_32) return 30;
    if (suite == kSuiteAeadAes128Gcm) return 28;  // RFC 7714 §12: 16-byte key + 12-byte salt
    return 0;
}

bool is_supported_suite(std::string_view suite) noexcept {
    if (suite == kSuiteAesCm128Sha1_80 || suite == kSuiteAesCm128Sha1_32) return true;
    return suite == kSuiteAeadAes128Gcm && gcm_available();
}

std::optional<SrtpKeyMaterial> generate_key(std::string_view suite) {
    if (!is_supported_suite(suite)) return std::nullopt;
    SrtpKeyMaterial key;
    key.suite = std::string(suite);
    if (!detail::random_bytes(std::span(key.key_salt).first(key.key_salt_size())))
        return std::nullopt;
    return key;
}

std::string format_crypto_attribute(int tag, const SrtpKeyMaterial& key) {
    std::string out = std::to_string(tag);
    out += ' ';
    out += key.suite;
    out += " inline:";
    const size_t n = key.key_salt_size();
    out += base64_encode(std::span(key.key_salt).first(n ? n : key.key_salt.size()));
    return out;
}

std::error_code parse_crypto_attribute(std::string_view value, int& tag, SrtpKeyMaterial& out) {
    value = trim(value);
    if (value.starts_with("a=")) value.remove_prefix(2);
    if (value.starts_with("crypto:")) value.remove_prefix(7);

    // RFC 4568 §9.1: "a=crypto:" tag 1*WSP crypto-suite 1*WSP key-params *(1*WSP session-param)
    const std::string_view tag_tok = next_token(value);
    if (tag_tok.empty() || tag_tok.size() > 9 ||
        tag_tok.find_first_not_of("0123456789") != std::string_view::npos)
        return errc::bad_crypto_attribute;
    int t = 0;
    const auto [ptr, ec] = std::from_chars(tag_tok.data(), tag_tok.data() + tag_tok.size(), t);
    if (ec != std::errc{} || ptr != tag_tok.data() + tag_tok.size()) {
        return errc::bad_crypto_attribute;
    }
    const std::string_view suite = next_token(value);
    const std::string_view key_params = next_token(value);
    if (suite.empty() || key_params.empty()) return errc::bad_crypto_attribute;

    // Session parameters (RFC 4568 §6.3): refuse those that change the transform.
    for (std::string_view rest = value;;) {
        const std::string_view p = next_token(rest);
        if (p.empty()) break;
        if (p.starts_with("UNENCRYPTED_SRTP") || p.starts_with("UNENCRYPTED_SRTCP") ||
            p.starts_with("UNAUTHENTICATED_SRTP") || (p.starts_with("KDR=") && p != "KDR=0")) {
            return errc::unsupported_suite;
        }
    }

    // key-params = "inline:" key||salt ["|" lifetime] ["|" MKI ":" length]; a single key only.
    if (key_params.find(';') != std::string_view::npos) return errc::bad_crypto_attribute;
    if (!key_params.starts_with("inline:")) return errc::bad_crypto_attribute;
    std::string_view info = key_params.substr(7);
    const size_t bar = info.find('|');
    std::string_view b64 = info.substr(0, bar);
    if (bar != std::string_view::npos) {
        std::string_view extra = info.substr(bar + 1);
        const size_t bar2 = extra.find('|');
        const std::string_view first = extra.substr(0, bar2);
        if (bar2 != std::string_view::npos || first.find(':') != std::string_view::npos)
            return errc::unsupported_suite;  // MKI present
        // lifetime: decimal or "2^" decimal; ignored (we rekey per call).
        std::string_view digits = first.starts_with("2^") ? first.substr(2) : first;
        if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos)
            return errc::bad_crypto_attribute;
    }

    if (!is_supported_suite(suite)) return errc::unsupported_suite;
    SrtpKeyMaterial key;
    key.suite = std::string(suite);
    if (!base64_decode_exact(b64, std::span(key.key_salt).first(key.key_salt_size())))
        return errc::bad_crypto_attribute;
    tag = t;
    out = std::move(key);
    return {};
}

SrtpContext::~SrtpContext() {
    reset();
}

SrtpContext::SrtpContext(SrtpContext&& other) noexcept
    : ctx_(std::exchange(other.ctx_, nullptr)), dir_(other.dir_) {}

SrtpContext& SrtpContext::operator=(SrtpContext&& other) noexcept {
    if (this != &other) {
        reset();
        ctx_ = std::exchange(other.ctx_, nullptr);
        dir_ = other.dir_;
    }
    return *this;
}

void SrtpContext::reset() noexcept {
    if (ctx_) srtp_dealloc(ctx_);
    ctx_ = nullptr;
}

std::error_code SrtpContext::create(const SrtpKeyMaterial& key, SrtpDirection dir,
                                    SrtpContext& out) {
    if (auto ec = srtp_init()) return ec;
    if (!is_supported_suite(key.suite)) return errc::unsupported_suite;
    srtp_policy_t policy{};
    if (!set_policy(key.suite, policy)) return errc::unsupported_suite;
    policy.ssrc.type = dir == SrtpDirection::inbound ? ssrc_any_inbound : ssrc_any_outbound;
    std::array<uint8_t, kSrtpKeySaltSize> material = key.key_salt;
    policy.key = material.data();
    policy.window_size = 1024;
    policy.allow_repeat_tx = 0;
    policy.next = nullptr;
    srtp_t session = nullptr;
    const srtp_err_status_t st = srtp_create(&session, &policy);
    material.fill(0);
    if (st != srtp_err_status_ok) return errc::srtp_failure;
    out.reset();
    out.ctx_ = session;
    out.dir_ = dir;
    return {};
}

std::error_code SrtpContext::protect(uint8_t* buf, size_t& len, size_t capacity) {
    if (!ctx_ || dir_ != SrtpDirection::outbound || !buf) return errc::invalid_argument;
    if (len < 12 || len > INT_MAX - kSrtpMaxOverhead) return errc::malformed_packet;
    if (capacity < len + kSrtpMaxOverhead) return errc::buffer_too_small;
    int n = static_cast<int>(len);
    if (auto ec = map_status(srtp_protect(ctx_, buf, &n))) return ec;
    len = static_cast<size_t>(n);
    return {};
}

std::error_code SrtpContext::protect_rtcp(uint8_t* buf, size_t& len, size_t capacity) {
    if (!ctx_ || dir_ != SrtpDirection::outbound || !buf) return errc::invalid_argument;
    if (len < 8 || len > INT_MAX - kSrtpMaxOverhead) return errc::malformed_packet;
    if (capacity < len + kSrtpMaxOverhead) return errc::buffer_too_small;
    int n = static_cast<int>(len);
    if (auto ec = map_status(srtp_protect_rtcp(ctx_, buf, &n))) return ec;
    len = static_cast<size_t>(n);
    return {};
}

std::error_code SrtpContext::unprotect(uint8_t* buf, size_t& len) {
    if (!ctx_ || dir_ != SrtpDirection::inbound || !buf) return errc::invalid_argument;
    if (len < 12 || len > INT_MAX) return errc::malformed_packet;
    int n = static_cast<int>(len);
    if (auto ec = map_status(srtp_unprotect(ctx_, buf, &n))) return ec;
    len = static_cast<size_t>(n);
    return {};
}

std::error_code SrtpContext::unprotect_rtcp(uint8_t* buf, size_t& len) {
    if (!ctx_ || dir_ != SrtpDirection::inbound || !buf) return errc::invalid_argument;
    if (len < 8 || len > INT_MAX) return errc::malformed_packet;
    int n = static_cast<int>(len);
    if (auto ec = map_status(srtp_unprotect_rtcp(ctx_, buf, &n))) return ec;
    len = static_cast<size_t>(n);
    return {};
}

}  // namespace p2psip::media
