#include "p2psip/media/dtls_srtp.hpp"

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/dtls.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <deque>
#include <optional>
#include <utility>

#include <boost/asio/steady_timer.hpp>

#include "p2psip/media/error.hpp"
#include "random.hpp"
#include "text.hpp"

namespace p2psip::media {
namespace {

// Small RAII owners for GnuTLS objects.
struct Datum {
    gnutls_datum_t d{nullptr, 0};
    Datum() = default;
    Datum(const Datum&) = delete;
    Datum& operator=(const Datum&) = delete;
    ~Datum() { gnutls_free(d.data); }
    std::span<const uint8_t> span() const { return {d.data, d.size}; }
};

template <class T, void (*Deinit)(T)>
struct Owned {
    T v = nullptr;
    Owned() = default;
    Owned(const Owned&) = delete;
    Owned& operator=(const Owned&) = delete;
    ~Owned() {
        if (v) Deinit(v);
    }
};
using Crt = Owned<gnutls_x509_crt_t, gnutls_x509_crt_deinit>;
using PrivKey = Owned<gnutls_x509_privkey_t, gnutls_x509_privkey_deinit>;
using PubKey = Owned<gnutls_pubkey_t, gnutls_pubkey_deinit>;

struct HashInfo {
    std::string_view name;  // RFC 4572 §5 hash-func token
    gnutls_digest_algorithm_t alg;
    size_t size;
};
constexpr HashInfo kHashes[] = {
    {"sha-1", GNUTLS_DIG_SHA1, 20},     {"sha-224", GNUTLS_DIG_SHA224, 28},
    {"sha-256", GNUTLS_DIG_SHA256, 32}, {"sha-384", GNUTLS_DIG_SHA384, 48},
    {"sha-512", GNUTLS_DIG_SHA512, 64},
};

const HashInfo* find_hash(std::string_view name) {
    for (const auto& h : kHashes) {
        if (h.name.size() != name.size()) continue;
        bool eq = true;
        for (size_t i = 0; i < name.size() && eq; ++i) {
            const char c = name[i] >= 'A' && name[i] <= 'Z' ? char(name[i] - 'A' + 'a') : name[i];
            eq = c == h.name[i];
        }
        if (eq) return &h;
    }
    return nullptr;
}

// SRTP protection profiles: RFC 5764 §4.1.2 and RFC 7714 §14.2.
struct Profile {
    uint16_t id;
    std::string_view suite;
    size_t key_len;
    size_t salt_len;
};
constexpr Profile kProfiles[] = {
    {0x0007, kSuiteAeadAes128Gcm, 16, 12},
    {0x0001, kSuiteAesCm128Sha1_80, 16, 14},
    {0x0002, kSuiteAesCm128Sha1_32, 16, 14},
};

const Profile* find_profile(uint16_t id) {
    for (const auto& p : kProfiles)
        if (p.id == id) return &p;
    return nullptr;
}

const Profile* find_profile(std::string_view suite) {
    for (const auto& p : kProfiles)
        if (p.suite == suite) return &p;
    return nullptr;
}

// DTLS 1.2 only, forward-secret ECDHE key exchange with RSA or ECDSA certificates.
constexpr char kPriority[] = "NORMAL:-VERS-ALL:+VERS-DTLS1.2:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA";
// RFC 5764 §4.2 exporter label.
constexpr std::string_view kExporterLabel = "EXTRACTOR-dtls_srtp";
constexpr unsigned kRetransmitMs = 1000;  // RFC 6347 §4.2.4.1 initial timer

std::string hex_fingerprint(std::string_view hash_name, std::span<const uint8_t> digest) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out(hash_name);
    out += ' ';
    for (size_t i = 0; i < digest.size(); ++i) {
        if (i) out += ':';
        out += kHex[digest[i] >> 4];
        out += kHex[digest[i] & 15];
    }
    return out;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

using detail::trim;

bool pem_to_der(std::string_view pem, Datum& der) {
    Crt crt;
    if (gnutls_x509_crt_init(&crt.v) < 0) return false;
    const gnutls_datum_t in{reinterpret_cast<unsigned char*>(const_cast<char*>(pem.data())),
                            static_cast<unsigned>(pem.size())};
    if (gnutls_x509_crt_import(crt.v, &in, GNUTLS_X509_FMT_PEM) < 0) return false;
    return gnutls_x509_crt_export2(crt.v, GNUTLS_X509_FMT_DER, &der.d) >= 0;
}

bool spki_of_der(std::span<const uint8_t> cert_der, std::vector<uint8_t>& out) {
    PubKey pk;
    if (gnutls_pubkey_init(&pk.v) < 0) return false;
    const gnutls_datum_t in{const_cast<unsigned char*>(cert_der.data()),
                            static_cast<unsigned>(cert_der.size())};
    if (gnutls_pubkey_import_x509_raw(pk.v, &in, GNUTLS_X509_FMT_DER, 0) < 0) return false;
    Datum d;
    if (gnutls_pubkey_export2(pk.v, GNUTLS_X509_FMT_DER, &d.d) < 0) return false;
    out.assign(d.d.data, d.d.data + d.d.size);
    return true;
}

}  // namespace

namespace {

// One certificate for a fresh key: self-signed, or signed by issuer_crt/issuer_key.
std::error_code make_credentials(std::string_view common_name, DtlsKeyType type, bool ca,
                                 gnutls_x509_crt_t issuer_crt, gnutls_x509_privkey_t issuer_key,
                                 DtlsCredentials& out) {
    PrivKey key;
    Crt crt;
    if (gnutls_x509_privkey_init(&key.v) < 0 || gnutls_x509_crt_init(&crt.v) < 0)
        return errc::dtls_failure;
    const bool rsa = type == DtlsKeyType::rsa_3072;
    const int gen =
        rsa ? gnutls_x509_privkey_generate(key.v, GNUTLS_PK_RSA, 3072, 0)
            : gnutls_x509_privkey_generate(key.v, GNUTLS_PK_ECDSA,
                                           GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
    if (gen < 0) return errc::dtls_failure;

    std::array<uint8_t, 16> serial{};
    if (!detail::random_bytes(serial)) return errc::random_failure;
    serial[0] = static_cast<uint8_t>((serial[0] & 0x7f) | 0x01);  // positive, no leading zero
    const std::string cn = common_name.empty() ? std::string("p2psip") : std::string(common_name);
    const time_t now = std::time(nullptr);
    constexpr time_t kDay = 24 * 60 * 60;
    const unsigned usage =
        ca ? GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN
           : GNUTLS_KEY_DIGITAL_SIGNATURE | (rsa ? GNUTLS_KEY_KEY_ENCIPHERMENT : 0);
    if (gnutls_x509_crt_set_version(crt.v, 3) < 0 ||
        gnutls_x509_crt_set_serial(crt.v, serial.data(), serial.size()) < 0 ||
        gnutls_x509_crt_set_activation_time(crt.v, now - kDay) < 0 ||
        gnutls_x509_crt_set_expiration_time(crt.v, now + 365 * kDay) < 0 ||
        gnutls_x509_crt_set_dn_by_oid(crt.v, GNUTLS_OID_X520_COMMON_NAME, 0, cn.data(),
                                      static_cast<unsigned>(cn.size())) < 0 ||
        gnutls_x509_crt_set_key(crt.v, key.v) < 0 ||
        gnutls_x509_crt_set_basic_constraints(crt.v, ca ? 1 : 0, -1) < 0 ||
        gnutls_x509_crt_set_key_usage(crt.v, usage) < 0 ||
        gnutls_x509_crt_sign2(crt.v, issuer_crt ? issuer_crt : crt.v,
                              issuer_key ? issuer_key : key.v, GNUTLS_DIG_SHA256, 0) < 0)
        return errc::dtls_failure;

    Datum cert_pem, key_pem;
    if (gnutls_x509_crt_export2(crt.v, GNUTLS_X509_FMT_PEM, &cert_pem.d) < 0 ||
        gnutls_x509_privkey_export2(key.v, GNUTLS_X509_FMT_PEM, &key_pem.d) < 0)
        return errc::dtls_failure;
    out.certificate_pem.assign(reinterpret_cast<const char*>(cert_pem.d.data), cert_pem.d.size);
    out.private_key_pem.assign(reinterpret_cast<const char*>(key_pem.d.data), key_pem.d.size);
    return {};
}

gnutls_datum_t datum_of(std::string_view s) {
    return {reinterpret_cast<unsigned char*>(const_cast<char*>(s.data())),
            static_cast<unsigned>(s.size())};
}

}  // namespace

std::error_code make_self_signed_credentials(std::string_view common_name, DtlsCredentials& out,
                                             DtlsKeyType type, bool certificate_authority) {
    return make_credentials(common_name, type, certificate_authority, nullptr, nullptr, out);
}

std::error_code issue_credentials(const DtlsCredentials& issuer, std::string_view common_name,
                                  DtlsCredentials& out) {
    Crt issuer_crt;
    PrivKey issuer_key;
    const gnutls_datum_t cert = datum_of(issuer.certificate_pem);
    const gnutls_datum_t key = datum_of(issuer.private_key_pem);
    // The first certificate of the PEM; the key as PKCS#1 or unencrypted PKCS#8.
    if (gnutls_x509_crt_init(&issuer_crt.v) < 0 || gnutls_x509_privkey_init(&issuer_key.v) < 0 ||
        gnutls_x509_crt_import(issuer_crt.v, &cert, GNUTLS_X509_FMT_PEM) < 0 ||
        gnutls_x509_privkey_import2(issuer_key.v, &key, GNUTLS_X509_FMT_PEM, nullptr,
                                    GNUTLS_PKCS_PLAIN) < 0)
        return errc::dtls_failure;
    DtlsCredentials leaf;
    if (auto ec = make_credentials(common_name, DtlsKeyType::ecdsa_p256, false, issuer_crt.v,
                                   issuer_key.v, leaf))
        return ec;
    Datum issuer_pem;
    if (gnutls_x509_crt_export2(issuer_crt.v, GNUTLS_X509_FMT_PEM, &issuer_pem.d) < 0)
        return errc::dtls_failure;
    out.certificate_pem = std::move(leaf.certificate_pem);
    out.certificate_pem.append(reinterpret_cast<const char*>(issuer_pem.d.data), issuer_pem.d.size);
    out.private_key_pem = std::move(leaf.private_key_pem);
    return {};
}

std::string fingerprint_attribute(std::span<const uint8_t> certificate_der) {
    std::array<uint8_t, 32> digest{};
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, certificate_der.data(), certificate_der.size(),
                         digest.data()) < 0)
        return {};
    return hex_fingerprint("sha-256", digest);
}

std::error_code fingerprint_attribute_of_pem(std::string_view certificate_pem, std::string& out) {
    Datum der;
    if (!pem_to_der(certificate_pem, der)) return errc::dtls_failure;
    std::string fp = fingerprint_attribute(der.span());
    if (fp.empty()) return errc::dtls_failure;
    out = std::move(fp);
    return {};
}

std::error_code verify_issued_by(std::span<const uint8_t> certificate_der,
                                 std::span<const uint8_t> issuer_der) {
    Crt cert, issuer;
    const gnutls_datum_t c{const_cast<unsigned char*>(certificate_der.data()),
                           static_cast<unsigned>(certificate_der.size())};
    const gnutls_datum_t i{const_cast<unsigned char*>(issuer_der.data()),
                           static_cast<unsigned>(issuer_der.size())};
    if (gnutls_x509_crt_init(&cert.v) < 0 || gnutls_x509_crt_init(&issuer.v) < 0 ||
        gnutls_x509_crt_import(cert.v, &c, GNUTLS_X509_FMT_DER) < 0 ||
        gnutls_x509_crt_import(issuer.v, &i, GNUTLS_X509_FMT_DER) < 0)
        return errc::dtls_bad_chain;
    // The issuer as the only trust anchor: checks the name and the signature. A certificate
    // that is itself the anchor would pass as trusted without a signature: refused
    // (DO_NOT_ALLOW_SAME). Times are not checked: the identity is long-lived and the peers'
    // clocks are not ours to judge.
    unsigned status = 0;
    if (gnutls_x509_crt_verify(cert.v, &issuer.v, 1,
                               GNUTLS_VERIFY_DISABLE_TIME_CHECKS |
                                   GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS |
                                   GNUTLS_VERIFY_DO_NOT_ALLOW_SAME,
                               &status) < 0 ||
        status != 0)
        return errc::dtls_bad_chain;
    return {};
}

std::error_code public_key_der_of_pem(std::string_view certificate_pem, std::vector<uint8_t>& out) {
    Datum der;
    if (!pem_to_der(certificate_pem, der)) return errc::dtls_failure;
    return spki_of_der(der.span(), out) ? std::error_code{} : make_error_code(errc::dtls_failure);
}

std::error_code parse_fingerprint_attribute(std::string_view value, std::string& hash_name,
                                            std::vector<uint8_t>& digest) {
    value = trim(value);
    if (value.starts_with("a=")) value.remove_prefix(2);
    if (value.starts_with("fingerprint:")) value.remove_prefix(12);
    value = trim(value);
    // RFC 4572 §5: fingerprint-attribute = "fingerprint" ":" hash-func SP fingerprint
    const size_t sp = value.find_first_of(" \t");
    if (sp == std::string_view::npos) return errc::bad_fingerprint_attribute;
    const HashInfo* hash = find_hash(value.substr(0, sp));
    if (!hash) return errc::bad_fingerprint_attribute;
    const std::string_view hex = trim(value.substr(sp));
    // 2UHEX *(":" 2UHEX); lowercase accepted too.
    if (hex.size() != hash->size * 3 - 1) return errc::bad_fingerprint_attribute;
    std::vector<uint8_t> bytes(hash->size);
    for (size_t i = 0; i < hash->size; ++i) {
        const size_t at = i * 3;
        const int hi = hex_value(hex[at]);
        const int lo = hex_value(hex[at + 1]);
        if (hi < 0 || lo < 0) return errc::bad_fingerprint_attribute;
        if (i + 1 < hash->size && hex[at + 2] != ':') return errc::bad_fingerprint_attribute;
        bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
    }
    hash_name = std::string(hash->name);
    digest = std::move(bytes);
    return {};
}

PacketClass classify_packet(std::span<const uint8_t> datagram) noexcept {
    if (datagram.empty()) return PacketClass::unknown;
    const uint8_t b = datagram[0];
    // RFC 7983 §7
    if (b <= 3) return PacketClass::stun;
    if (b >= 16 && b <= 19) return PacketClass::zrtp;
    if (b >= 20 && b <= 63) return PacketClass::dtls;
    if (b >= 64 && b <= 79) return PacketClass::turn_channel;
    if (b >= 128 && b <= 191) return PacketClass::rtp_rtcp;
    return PacketClass::unknown;
}

// ---------------------------------------------------------------------------------------------

struct DtlsSrtpSession::Impl : std::enable_shared_from_this<DtlsSrtpSession::Impl> {
    enum class State { idle, handshaking, awaiting_fingerprint, succeeded, failed };

    Impl(asio::io_context& io, DtlsSrtpConfig c, SendFn s, DoneFn d)
        : config(std::move(c)),
          send(std::move(s)),
          done_fn(std::move(d)),
          retransmit_timer(io),
          deadline_timer(io) {}

    ~Impl() {
        if (session) gnutls_deinit(session);
        if (cred) gnutls_certificate_free_credentials(cred);
    }

    DtlsSrtpConfig config;
    SendFn send;
    DoneFn done_fn;
    asio::steady_timer retransmit_timer;
    asio::steady_timer deadline_timer;
    gnutls_session_t session = nullptr;
    gnutls_certificate_credentials_t cred = nullptr;
    State state = State::idle;
    bool closed = false;       // close() or destruction: no more callbacks
    bool reported = false;     // done_fn was called
    bool peer_closed = false;  // close_notify or a fatal alert after success
    bool busy = false;         // inside GnuTLS; re-entrant packets wait in rx
    enum class Match { yes, no, bad_attribute };
    Match early_verify = Match::yes;  // the verify callback's verdict
    bool server_profile_chosen = false;
    std::vector<uint16_t> profiles;  // our preference order
    std::deque<std::vector<uint8_t>> rx;
    std::optional<std::error_code> pending;
    DtlsSrtpResult result;
    std::array<uint8_t, 2048> scratch{};

    static constexpr size_t kMaxQueued = 64;

    // --- GnuTLS transport callbacks -----------------------------------------------------------
    static ssize_t push(gnutls_transport_ptr_t p, const void* data, size_t size) {
        auto* self = static_cast<Impl*>(p);
        if (!self->closed && self->send)
            self->send(std::span<const uint8_t>(static_cast<const uint8_t*>(data), size));
        return static_cast<ssize_t>(size);
    }

    static ssize_t pull(gnutls_transport_ptr_t p, void* data, size_t size) {
        auto* self = static_cast<Impl*>(p);
        if (self->rx.empty()) {
            gnutls_transport_set_errno(self->session, EAGAIN);
            return -1;
        }
        const std::vector<uint8_t>& d = self->rx.front();
        const size_t n = std::min(size, d.size());  // DTLS: a datagram is read whole or cut
        std::memcpy(data, d.data(), n);
        self->rx.pop_front();
        return static_cast<ssize_t>(n);
    }

    static int pull_timeout(gnutls_transport_ptr_t p, unsigned int) {
        return static_cast<Impl*>(p)->rx.empty() ? 0 : 1;
    }

    // Called by GnuTLS when the peer's Certificate arrived. No CA/chain checks: all
    // certificates are self-signed and authenticated by a=fingerprint only (RFC 5763 §5).
    static int verify_peer(gnutls_session_t s) {
        auto* self = static_cast<Impl*>(gnutls_session_get_ptr(s));
        unsigned n = 0;
        const gnutls_datum_t* certs = gnutls_certificate_get_peers(s, &n);
        if (!certs || n == 0) return -1;
        if (self->config.peer_fingerprint.empty()) return 0;  // checked once it arrives
        self->early_verify = self->fingerprint_matches({certs[0].data, certs[0].size});
        return self->early_verify == Match::yes ? 0 : -1;
    }

    // Server: choose the SRTP profile ourselves (our first preference among the client's
    // offers) before GnuTLS parses the ClientHello, because GnuTLS would take the client's order.
    static int on_client_hello(gnutls_session_t s, unsigned, unsigned when, unsigned incoming,
                               const gnutls_datum_t* msg) {
        auto* self = static_cast<Impl*>(gnutls_session_get_ptr(s));
        if (when != GNUTLS_HOOK_PRE || !incoming || self->server_profile_chosen) return 0;
        std::vector<uint16_t> offered;
        gnutls_ext_raw_parse(&offered, &collect_use_srtp, msg,
                             GNUTLS_EXT_RAW_FLAG_DTLS_CLIENT_HELLO);
        for (uint16_t ours : self->profiles) {
            if (std::find(offered.begin(), offered.end(), ours) != offered.end()) {
                gnutls_srtp_set_profile(s, static_cast<gnutls_srtp_profile_t>(ours));
                self->server_profile_chosen = true;
                break;
            }
        }
        return 0;
    }

    // RFC 5764 §4.1.1: use_srtp = SRTPProtectionProfiles (uint16 list) + srtp_mki.
    static int collect_use_srtp(void* ctx, unsigned tls_id, const unsigned char* data,
                                unsigned size) {
        if (tls_id != 14 || size < 2) return 0;
        auto& offered = *static_cast<std::vector<uint16_t>*>(ctx);
        const size_t len = size_t{data[0]} << 8 | data[1];
        if (len % 2 || len + 2 > size) return 0;
        for (size_t i = 0; i < len; i += 2)
            offered.push_back(static_cast<uint16_t>(data[2 + i] << 8 | data[3 + i]));
        return 0;
    }

    Match fingerprint_matches(std::span<const uint8_t> cert_der) const {
        std::string name;
        std::vector<uint8_t> want;
        if (parse_fingerprint_attribute(config.peer_fingerprint, name, want))
            return Match::bad_attribute;
        const HashInfo* h = find_hash(name);
        std::array<uint8_t, 64> got{};
        if (!h || gnutls_hash_fast(h->alg, cert_der.data(), cert_der.size(), got.data()) < 0)
            return Match::bad_attribute;
        return std::equal(want.begin(), want.end(), got.begin()) ? Match::yes : Match::no;
    }

    // --- state machine -----------------------------------------------------------------------
    std::error_code start() {
        if (state != State::idle || closed) return errc::invalid_argument;
        const std::error_code ec = setup();
        if (ec) {
            state = State::failed;  // no retry on the same object; DoneFn is not called
            return ec;
        }
        state = State::handshaking;
        std::weak_ptr<Impl> weak = weak_from_this();
        deadline_timer.expires_after(config.handshake_timeout);
        deadline_timer.async_wait([weak](const boost::system::error_code& ec) {
            auto self = weak.lock();
            if (ec || !self || self->closed) return;
            if (self->state == State::handshaking || self->state == State::awaiting_fingerprint)
                self->fail(errc::dtls_timeout, false);
            self->flush();
        });
        drive();
        return {};
    }

    std::error_code setup() {
        for (const auto& name : config.suites) {
            const Profile* p = find_profile(name);
            if (p && is_supported_suite(p->suite) &&
                std::find(profiles.begin(), profiles.end(), p->id) == profiles.end())
                profiles.push_back(p->id);
        }
        if (profiles.empty()) return errc::dtls_no_srtp_profile;
        if (config.mtu < 256 || config.handshake_timeout.count() <= 0)
            return errc::invalid_argument;

        if (gnutls_certificate_allocate_credentials(&cred) < 0) return errc::dtls_failure;
        const gnutls_datum_t cert{
            reinterpret_cast<unsigned char*>(config.credentials.certificate_pem.data()),
            static_cast<unsigned>(config.credentials.certificate_pem.size())};
        const gnutls_datum_t key{
            reinterpret_cast<unsigned char*>(config.credentials.private_key_pem.data()),
            static_cast<unsigned>(config.credentials.private_key_pem.size())};
        if (gnutls_certificate_set_x509_key_mem2(cred, &cert, &key, GNUTLS_X509_FMT_PEM, nullptr,
                                                 0) < 0)
            return errc::dtls_failure;
        gnutls_certificate_set_verify_function(cred, &verify_peer);

        const bool client = config.role == DtlsRole::client;
        if (gnutls_init(&session, (client ? GNUTLS_CLIENT : GNUTLS_SERVER) | GNUTLS_DATAGRAM |
                                      GNUTLS_NONBLOCK) < 0)
            return errc::dtls_failure;
        if (gnutls_priority_set_direct(session, kPriority, nullptr) < 0 ||
            gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, cred) < 0)
            return errc::dtls_failure;
        gnutls_session_set_ptr(session, this);
        gnutls_transport_set_ptr(session, this);
        gnutls_transport_set_push_function(session, &push);
        gnutls_transport_set_pull_function(session, &pull);
        gnutls_transport_set_pull_timeout_function(session, &pull_timeout);
        gnutls_dtls_set_mtu(session, static_cast<unsigned>(config.mtu));
        // Our own deadline reports the timeout; GnuTLS's total limit is only a backstop.
        const auto total_ms = static_cast<unsigned>(
            std::min<int64_t>(config.handshake_timeout.count() + 10000, 0x7fffffff));
        gnutls_dtls_set_timeouts(session, kRetransmitMs, total_ms);
        if (client) {
            // GnuTLS does not know SRTP_AEAD_AES_128_GCM by name but sends and accepts any
            // profile number set here.
            for (uint16_t id : profiles)
                if (gnutls_srtp_set_profile(session, static_cast<gnutls_srtp_profile_t>(id)) < 0)
                    return errc::dtls_failure;
        } else {
            // RFC 5763 §5: the server requests the client's certificate.
            gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE);
            gnutls_handshake_set_hook_function(session, GNUTLS_HANDSHAKE_CLIENT_HELLO,
                                               GNUTLS_HOOK_PRE, &on_client_hello);
        }
        return {};
    }

    void on_packet(std::span<const uint8_t> datagram) {
        if (closed || datagram.empty() || state == State::failed) return;
        if (rx.size() >= kMaxQueued) rx.pop_front();
        rx.emplace_back(datagram.begin(), datagram.end());
        if (state != State::idle) drive();
    }

    void arm_retransmit() {
        const unsigned ms = std::max(1u, gnutls_dtls_get_timeout(session));
        retransmit_timer.expires_after(std::chrono::milliseconds(ms));
        std::weak_ptr<Impl> weak = weak_from_this();
        retransmit_timer.async_wait([weak](const boost::system::error_code& ec) {
            auto self = weak.lock();
            if (ec || !self || self->closed || self->state != State::handshaking) return;
            self->drive();
            self->flush();
        });
    }

    void drive() {
        if (busy || !session) return;
        busy = true;
        // Bounded so a misbehaving peer cannot spin us; leftovers wait for the next event.
        for (int guard = 0; guard < 256 && !closed; ++guard) {
            if (state == State::handshaking) {
                const int r = gnutls_handshake(session);
                if (r == GNUTLS_E_SUCCESS) {
                    handshake_finished();
                    continue;
                }
                if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
                    if (!rx.empty()) continue;
                    arm_retransmit();
                    break;
                }
                if (!gnutls_error_is_fatal(r)) continue;  // e.g. a warning alert
                handshake_failed(r);
                break;
            }
            if (state == State::awaiting_fingerprint || state == State::succeeded) {
                if (rx.empty() || peer_closed) {
                    rx.clear();
                    break;
                }
                // Lets GnuTLS answer a retransmitted final flight and see close_notify.
                const ssize_t n = gnutls_record_recv(session, scratch.data(), scratch.size());
                if (n > 0 || n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) continue;
                if (n < 0 && !gnutls_error_is_fatal(static_cast<int>(n))) continue;
                peer_closed = true;  // close_notify (0) or a fatal error/alert
                rx.clear();
                if (state == State::awaiting_fingerprint)
                    fail(n == 0 ? errc::dtls_closed : errc::dtls_failure, false);
                break;
            }
            rx.clear();  // failed: ignore
            break;
        }
        busy = false;
        try_verify();  // a fingerprint set from inside a callback
    }

    void handshake_failed(int r) {
        if (early_verify != Match::yes) {
            gnutls_alert_send(session, GNUTLS_AL_FATAL, GNUTLS_A_BAD_CERTIFICATE);
            fail(early_verify == Match::no ? errc::dtls_fingerprint_mismatch
                                           : errc::bad_fingerprint_attribute,
                 false);
            return;
        }
        if (r != GNUTLS_E_FATAL_ALERT_RECEIVED && r != GNUTLS_E_TIMEDOUT)
            gnutls_alert_send_appropriate(session, r);
        fail(r == GNUTLS_E_TIMEDOUT ? errc::dtls_timeout : errc::dtls_failure, false);
    }

    void handshake_finished() {
        retransmit_timer.cancel();
        gnutls_srtp_profile_t selected{};
        const Profile* profile = nullptr;
        if (gnutls_srtp_get_selected_profile(session, &selected) >= 0) {
            profile = find_profile(static_cast<uint16_t>(selected));
            if (profile &&
                std::find(profiles.begin(), profiles.end(), profile->id) == profiles.end())
                profile = nullptr;  // RFC 5764 §4.1.1: must be one we offered
        }
        if (!profile) {
            fail(errc::dtls_no_srtp_profile, true);
            return;
        }
        unsigned n = 0;
        const gnutls_datum_t* certs = gnutls_certificate_get_peers(session, &n);
        if (!certs || n == 0) {
            fail(errc::dtls_failure, true);
            return;
        }
        result.peer_certificate_der.assign(certs[0].data, certs[0].data + certs[0].size);
        if (n > 1) result.peer_issuer_der.assign(certs[1].data, certs[1].data + certs[1].size);
        if (!spki_of_der(result.peer_certificate_der, result.peer_public_key_der)) {
            fail(errc::dtls_failure, true);
            return;
        }

        // RFC 5764 §4.2: client_write_key | server_write_key | client_salt | server_salt.
        const size_t k = profile->key_len, s = profile->salt_len;
        std::array<uint8_t, 2 * kSrtpKeySaltSize> material{};
        if (gnutls_prf_rfc5705(session, kExporterLabel.size(), kExporterLabel.data(), 0, nullptr,
                               2 * (k + s), reinterpret_cast<char*>(material.data())) < 0) {
            fail(errc::dtls_failure, true);
            return;
        }
        SrtpKeyMaterial client_key, server_key;
        client_key.suite = server_key.suite = std::string(profile->suite);
        std::memcpy(client_key.key_salt.data(), material.data(), k);
        std::memcpy(server_key.key_salt.data(), material.data() + k, k);
        std::memcpy(client_key.key_salt.data() + k, material.data() + 2 * k, s);
        std::memcpy(server_key.key_salt.data() + k, material.data() + 2 * k + s, s);
        material.fill(0);
        const bool client = config.role == DtlsRole::client;
        result.suite = std::string(profile->suite);
        result.tx_key = client ? client_key : server_key;
        result.rx_key = client ? server_key : client_key;
        state = State::awaiting_fingerprint;
        try_verify();
    }

    void try_verify() {
        if (state != State::awaiting_fingerprint || config.peer_fingerprint.empty()) return;
        switch (fingerprint_matches(result.peer_certificate_der)) {
            case Match::yes:
                state = State::succeeded;
                deadline_timer.cancel();
                pending = std::error_code{};
                return;
            case Match::no:
                fail(errc::dtls_fingerprint_mismatch, true);
                return;
            case Match::bad_attribute:
                fail(errc::bad_fingerprint_attribute, true);
                return;
        }
    }

    void fail(std::error_code ec, bool send_alert) {
        if (state == State::failed) return;
        if (send_alert && session)
            gnutls_alert_send(session, GNUTLS_AL_FATAL,
                              ec == errc::dtls_no_srtp_profile ? GNUTLS_A_HANDSHAKE_FAILURE
                                                               : GNUTLS_A_BAD_CERTIFICATE);
        state = State::failed;
        retransmit_timer.cancel();
        deadline_timer.cancel();
        rx.clear();
        // Keys of a failed session must not be used.
        result.tx_key = result.rx_key = SrtpKeyMaterial{};
        result.suite.clear();
        pending = ec;
    }

    // Reports a pending outcome; last thing an entry point does, since done_fn may destroy
    // the owning DtlsSrtpSession (callers hold a shared_ptr to this Impl).
    void flush() {
        if (!pending || closed || reported) return;
        const std::error_code ec = *pending;
        pending.reset();
        reported = true;
        DoneFn fn = std::move(done_fn);
        done_fn = nullptr;
        if (fn) fn(ec, result);
    }

    void set_peer_fingerprint(std::string value) {
        if (closed) return;
        config.peer_fingerprint = std::move(value);
        if (!busy) try_verify();  // inside GnuTLS the verify callback or drive() picks it up
    }

    void close() {
        if (closed) return;
        if (session && !peer_closed &&
            (state == State::awaiting_fingerprint || state == State::succeeded))
            gnutls_bye(session, GNUTLS_SHUT_WR);  // close_notify, RFC 6347 §4.2.7
        shutdown();
    }

    void shutdown() {
        closed = true;
        retransmit_timer.cancel();
        deadline_timer.cancel();
        rx.clear();
    }
};

DtlsSrtpSession::DtlsSrtpSession(asio::io_context& io, DtlsSrtpConfig config, SendFn send,
                                 DoneFn done)
    : impl_(std::make_shared<Impl>(io, std::move(config), std::move(send), std::move(done))) {}

DtlsSrtpSession::~DtlsSrtpSession() {
    if (impl_) impl_->shutdown();
}

std::error_code DtlsSrtpSession::start() {
    const auto self = impl_;
    const std::error_code ec = self->start();
    if (!ec) self->flush();
    return ec;
}

void DtlsSrtpSession::on_packet(std::span<const uint8_t> datagram) {
    const auto self = impl_;
    self->on_packet(datagram);
    self->flush();
}

void DtlsSrtpSession::set_peer_fingerprint(std::string value) {
    const auto self = impl_;
    self->set_peer_fingerprint(std::move(value));
    self->flush();
}

bool DtlsSrtpSession::done() const {
    return impl_->reported || impl_->closed;
}

bool DtlsSrtpSession::connected() const {
    return impl_->state == Impl::State::succeeded && !impl_->peer_closed && !impl_->closed;
}

void DtlsSrtpSession::close() {
    const auto self = impl_;
    self->close();
}

}  // namespace p2psip::media
