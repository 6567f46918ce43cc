#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

struct srtp_ctx_t_;  // libsrtp2's session type, kept out of this header

namespace p2psip::media {

inline constexpr std::string_view kSuiteAesCm128Sha1_80 = "AES_CM_128_HMAC_SHA1_80";
inline constexpr std::string_view kSuiteAesCm128Sha1_32 = "AES_CM_128_HMAC_SHA1_32";
// RFC 7714: AES-128-GCM with a 16-byte tag for SRTP and SRTCP; 16-byte key + 12-byte salt.
inline constexpr std::string_view kSuiteAeadAes128Gcm = "AEAD_AES_128_GCM";
// The largest master key+salt of the supported suites (AES-CM: 16-byte key + 14-byte salt).
inline constexpr size_t kSrtpKeySaltSize = 30;
// Room protect()/protect_rtcp() need after the packet (libsrtp2's SRTP_MAX_TRAILER_LEN + the
// 4-byte SRTCP index).
inline constexpr size_t kSrtpMaxOverhead = 148;

// Master key+salt length of a suite: 30 for the AES-CM suites, 28 for AEAD_AES_128_GCM, 0 if
// the suite is unknown.
size_t srtp_key_salt_size(std::string_view suite) noexcept;

struct SrtpKeyMaterial {
    std::string suite;  // kSuiteAesCm128Sha1_80, kSuiteAesCm128Sha1_32 or kSuiteAeadAes128Gcm
    // Master key || master salt; only the first key_salt_size() bytes are used, the rest stays
    // zero (so the defaulted operator== compares keys correctly).
    std::array<uint8_t, kSrtpKeySaltSize> key_salt{};
    size_t key_salt_size() const noexcept { return srtp_key_salt_size(suite); }
    friend bool operator==(const SrtpKeyMaterial&, const SrtpKeyMaterial&) = default;
};

// Initialises libsrtp2 once per process (std::call_once); safe from any thread. SrtpContext
// calls it itself.
std::error_code srtp_init();

// AEAD_AES_128_GCM is supported only if this libsrtp2 build has GCM (checked once at runtime).
bool is_supported_suite(std::string_view suite) noexcept;

// Fresh master key+salt from getrandom(2). nullopt if the suite is unsupported or the CSPRNG fails.
std::optional<SrtpKeyMaterial> generate_key(std::string_view suite = kSuiteAesCm128Sha1_80);

// SDES, RFC 4568 §9.1: the value of an a=crypto attribute, e.g.
// "1 AES_CM_128_HMAC_SHA1_80 inline:<base64 of 30 bytes>"; RFC 7714 §12: AEAD_AES_128_GCM
// carries 28 bytes.
std::string format_crypto_attribute(int tag, const SrtpKeyMaterial& key);

// Parses an a=crypto value (a leading "a=crypto:" is tolerated). Accepts an optional lifetime,
// rejects MKI, multiple keys and session parameters that change the transform (KDR != 0,
// UNENCRYPTED_*, UNAUTHENTICATED_SRTP). Unknown suites give errc::unsupported_suite.
std::error_code parse_crypto_attribute(std::string_view value, int& tag, SrtpKeyMaterial& out);

enum class SrtpDirection { inbound, outbound };

// One libsrtp2 session for one direction, any SSRC (ssrc_any_inbound/outbound). RAII, move-only.
// All operations work in place and never allocate.
class SrtpContext {
  public:
    SrtpContext() noexcept = default;
    ~SrtpContext();
    SrtpContext(SrtpContext&& other) noexcept;
    SrtpContext& operator=(SrtpContext&& other) noexcept;
    SrtpContext(const SrtpContext&) = delete;
    SrtpContext& operator=(const SrtpContext&) = delete;

    static std::error_code create(const SrtpKeyMaterial& key, SrtpDirection dir, SrtpContext& out);

    bool valid() const noexcept { return ctx_ != nullptr; }
    SrtpDirection direction() const noexcept { return dir_; }

    // Outbound: encrypts and appends the auth tag. Needs capacity >= len + kSrtpMaxOverhead.
    std::error_code protect(uint8_t* buf, size_t& len, size_t capacity);
    std::error_code protect_rtcp(uint8_t* buf, size_t& len, size_t capacity);
    // Inbound: verifies and decrypts; len shrinks to the plain packet. errc::srtp_auth_failed on
    // a bad tag, errc::srtp_replay on a replay.
    std::error_code unprotect(uint8_t* buf, size_t& len);
    std::error_code unprotect_rtcp(uint8_t* buf, size_t& len);

  private:
    void reset() noexcept;
    srtp_ctx_t_* ctx_ = nullptr;
    SrtpDirection dir_ = SrtpDirection::outbound;
};

}  // namespace p2psip::media
