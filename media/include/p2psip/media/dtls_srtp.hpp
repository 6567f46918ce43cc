#pragma once

// DTLS-SRTP (RFC 5763/5764) over any datagram transport: the caller moves DTLS datagrams between
// the session and its socket/ICE path; the session derives the SRTP keys. Built on GnuTLS, whose
// types stay out of this header.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "p2psip/media/srtp.hpp"

namespace p2psip::media {

namespace asio = boost::asio;

// An X.509 certificate and its private key, both PEM.
// certificate_pem may hold a chain, our certificate first (sent whole in the handshake).
struct DtlsCredentials {
    std::string certificate_pem;
    std::string private_key_pem;
};

enum class DtlsKeyType { ecdsa_p256, rsa_3072 };

// A fresh self-signed certificate (SHA-256 signature, valid from a day ago for a year) for tests
// and for peers without a long-term identity; `certificate_authority` makes one that can only
// issue certificates (CA:TRUE, keyCertSign), like a node's identity certificate.
std::error_code make_self_signed_credentials(std::string_view common_name, DtlsCredentials& out,
                                             DtlsKeyType type = DtlsKeyType::ecdsa_p256,
                                             bool certificate_authority = false);

// A fresh ECDSA P-256 certificate issued (signed) by `issuer`, whose key may be slow (RSA-3072
// signs in ~25 ms here; a handshake needs one signature per side, every call). `out` holds the
// chain: the new certificate, then the issuer's.
std::error_code issue_credentials(const DtlsCredentials& issuer, std::string_view common_name,
                                  DtlsCredentials& out);

// RFC 8122 §5 / RFC 4572 §5: "sha-256 AB:CD:..." (uppercase hex, colon separated) of a
// certificate's DER encoding.
std::string fingerprint_attribute(std::span<const uint8_t> certificate_der);
std::error_code fingerprint_attribute_of_pem(std::string_view certificate_pem, std::string& out);
// The certificate's SubjectPublicKeyInfo, DER: the same encoding as
// DtlsSrtpResult::peer_public_key_der.
std::error_code public_key_der_of_pem(std::string_view certificate_pem, std::vector<uint8_t>& out);

// Parses an a=fingerprint value ("a=fingerprint:" prefix tolerated). Hash names sha-1, sha-224,
// sha-256, sha-384 and sha-512, case-insensitive; hash_name comes back lowercase. The digest must
// have the hash's length. errc::bad_fingerprint_attribute otherwise (outputs untouched).
std::error_code parse_fingerprint_attribute(std::string_view value, std::string& hash_name,
                                            std::vector<uint8_t>& digest);

// RFC 5763 §5: a=setup:active takes the DTLS client role, a=setup:passive the server role.
enum class DtlsRole { client, server };

struct DtlsSrtpConfig {
    DtlsRole role = DtlsRole::client;
    DtlsCredentials credentials;
    std::string peer_fingerprint;  // the peer's a=fingerprint value; may be empty and set later
    // Our preference order (kSuiteAeadAes128Gcm, kSuiteAesCm128Sha1_80, kSuiteAesCm128Sha1_32).
    // The server picks its first preference that the client offered.
    std::vector<std::string> suites{std::string(kSuiteAeadAes128Gcm),
                                    std::string(kSuiteAesCm128Sha1_80)};
    std::chrono::milliseconds handshake_timeout{15000};
    size_t mtu = 1200;  // keep records under the TURN/ICE path MTU
};

struct DtlsSrtpResult {
    std::string suite;               // negotiated SRTP protection profile as our suite name
    SrtpKeyMaterial tx_key, rx_key;  // ours (local write key) and the peer's
    std::vector<uint8_t> peer_certificate_der;
    // The peer certificate's SubjectPublicKeyInfo, DER, to compare with a key from the DHT.
    std::vector<uint8_t> peer_public_key_der;
    // The second certificate the peer sent (its certificate's issuer), if any; not verified:
    // see verify_issued_by().
    std::vector<uint8_t> peer_issuer_der;
};

// Whether `certificate_der` carries a valid signature by `issuer_der`'s key and names it as
// issuer (no validity-period or CA-path checks beyond that). errc::dtls_bad_chain if not.
std::error_code verify_issued_by(std::span<const uint8_t> certificate_der,
                                 std::span<const uint8_t> issuer_der);

// One DTLS-SRTP handshake. Single-threaded: every call, and every callback, happens on the
// io_context's thread. Callbacks may destroy the session.
class DtlsSrtpSession {
  public:
    using SendFn = std::function<void(std::span<const uint8_t>)>;  // one DTLS datagram out
    // Called exactly once after a successful start(): success (keys ready and the peer
    // certificate verified against peer_fingerprint), failure or timeout. Not called after
    // close() or destruction.
    using DoneFn = std::function<void(std::error_code, const DtlsSrtpResult&)>;

    DtlsSrtpSession(asio::io_context& io, DtlsSrtpConfig config, SendFn send, DoneFn done);
    ~DtlsSrtpSession();  // no callbacks after destruction
    DtlsSrtpSession(const DtlsSrtpSession&) = delete;
    DtlsSrtpSession& operator=(const DtlsSrtpSession&) = delete;

    // Client: sends its ClientHello; server: waits for one. Starts the handshake_timeout. An
    // error here (bad credentials, no usable suite, started twice) means DoneFn is never called.
    std::error_code start();
    // A DTLS datagram from the peer (RFC 7983: first byte 20..63). Datagrams arriving before
    // start() are kept until then. After success it still answers retransmitted final flights.
    void on_packet(std::span<const uint8_t> datagram);
    // May arrive after the handshake finished; verification waits for it.
    void set_peer_fingerprint(std::string value);

    bool done() const;       // DoneFn has been called, or close() was called
    bool connected() const;  // succeeded and neither side closed since
    void close();            // sends close_notify if connected; no callbacks afterwards

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

// RFC 7983 §7 demultiplexing by the first byte.
enum class PacketClass { stun, zrtp, dtls, turn_channel, rtp_rtcp, unknown };
PacketClass classify_packet(std::span<const uint8_t> datagram) noexcept;

}  // namespace p2psip::media
