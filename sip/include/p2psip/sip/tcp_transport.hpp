#pragma once

#include <utility>  // before Boost.Asio (project convention)

#include <boost/asio.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "p2psip/sip/message.hpp"
#include "p2psip/sip/transport.hpp"

namespace p2psip::sip {

namespace detail {
struct TcpConnection;
}

// Our certificate and private key for TLS, PEM text. certificate_pem may hold a chain (the
// certificate for the key first, then its issuers); all of it is sent in the handshake.
struct TlsCredentials {
    std::string certificate_pem;
    std::string private_key_pem;
};

struct TcpConfig {
    // Largest message accepted on a connection (headers + body). A bigger one is answered
    // 513 Message Too Large when it is a request (RFC 3261 §21.5.14) and the connection
    // is closed, since its framing can no longer be trusted.
    std::size_t max_message_size = 64 * 1024;
    // A connection with no traffic in either direction for this long is closed.
    std::chrono::milliseconds idle_timeout{60000};
    // A connect() that has not completed by then fails.
    std::chrono::milliseconds connect_timeout{10000};
};

struct TcpTransportStats {
    uint64_t accepted = 0;   // incoming connections
    uint64_t connected = 0;  // outgoing connections established
    uint64_t connect_failed = 0;
    uint64_t closed = 0;       // connections closed, any reason
    uint64_t idle_closed = 0;  // ... because of the idle limit
    uint64_t received = 0;     // framed messages
    uint64_t delivered = 0;    // parsed messages handed to the handler
    uint64_t rejected = 0;     // requests answered 400/505/513 by the transport
    uint64_t dropped = 0;      // malformed messages dropped silently
    uint64_t framing_errors = 0;
    uint64_t pings = 0;        // RFC 5626 double-CRLF keep-alives received (and answered)
    uint64_t pongs = 0;        // single CRLFs received
    uint64_t sent = 0;         // messages queued for sending
    uint64_t tls_refused = 0;  // TLS peers the verifier refused
};

// SIP over TCP (RFC 3261 §18): listens on address:port, accepts connections and opens
// them on demand. One connection per remote endpoint is kept and reused in both directions
// (§18.1.1, §18.2.2: a response goes back over the connection its request came on).
// Messages are framed by Content-Length (§18.3; its absence is a framing error, §20.14:
// requests get 400 and the connection is closed). A double CRLF is answered with a single
// CRLF (RFC 5626 §3.5.1), a lone CRLF between messages is ignored. All calls on the
// io_context thread.
class TcpTransport {
  public:
    // `from` is the remote endpoint of the connection the message came on; sending to it
    // reuses that connection.
    using MessageHandler = std::function<void(const Message& msg, const UdpEndpoint& from)>;
    // A connection to `peer` failed (connect error or broken with data still queued).
    using ErrorHandler = std::function<void(const UdpEndpoint& peer, std::error_code ec)>;

    explicit TcpTransport(asio::io_context& io, TcpConfig config = {});
    ~TcpTransport();
    TcpTransport(const TcpTransport&) = delete;
    TcpTransport& operator=(const TcpTransport&) = delete;

    // Listens on address:port (port 0 = ephemeral).
    std::error_code open(std::string_view address, uint16_t port);
    // Stops listening and closes every connection.
    void close();
    bool is_open() const;
    uint16_t local_port() const;
    UdpEndpoint local_endpoint() const;  // the listening address (as an address + port)

    // Parsed messages, with the same checks as UdpTransport (received/rport stamped on
    // requests, malformed requests answered, malformed responses dropped).
    void set_handler(MessageHandler handler);
    void set_error_handler(ErrorHandler handler);

    // Queues `data` on the connection to `to`, connecting first when there is none.
    // Errors of the connection itself are reported to the error handler.
    std::error_code send(std::string data, const UdpEndpoint& to);
    // §18.2.2: over the connection the request came on (`source`) while it is open, else a
    // new connection to the top Via's received/rport or sent-by.
    std::error_code send_response(const OutgoingMessage& response, const Message& request,
                                  const UdpEndpoint& source);
    // Sends an RFC 5626 §3.5.1 keep-alive ping ("\r\n\r\n") on the connection to `peer`.
    std::error_code ping(const UdpEndpoint& peer);

    bool has_connection(const UdpEndpoint& peer) const;
    std::size_t connection_count() const;
    // Closes the connection to `peer`, if any (queued data is dropped).
    void close_connection(const UdpEndpoint& peer);

    const TcpConfig& config() const;
    const TcpTransportStats& stats() const;

  protected:
    // TLS over the same connection machinery (TlsTransport).
    TcpTransport(asio::io_context& io, TcpConfig config, TlsCredentials credentials);

    friend struct detail::TcpConnection;
    struct State;
    std::shared_ptr<State> state_;
};

// SIP over TLS (RFC 3261 §26.2, transport "TLS", default port 5061) with GnuTLS: the same
// framing, reuse, keep-alive and limits as TcpTransport. Both sides present a certificate
// (the server asks for the client's); none is validated against a CA, since p2psip peers
// are self-signed: the peer's key is checked by the caller instead, e.g. against the key
// that signed its DHT binding (peer_public_key()). Messages are only delivered, and
// queued data only sent, once the handshake has completed.
class TlsTransport : public TcpTransport {
  public:
    TlsTransport(asio::io_context& io, TlsCredentials credentials, TcpConfig config = {});
    // open() also loads the credentials: Errc::tls_failed when they do not parse.

    // DER SubjectPublicKeyInfo of the certificate the peer presented on the connection to
    // `peer` (e.g. the `from` of a message); empty when there is no such connection, its
    // handshake is not finished or the peer sent no certificate.
    std::string peer_public_key(const UdpEndpoint& peer) const;
    // The DER certificates the peer presented on the connection to `peer`, its own first
    // then the rest of its chain as sent; empty under the same conditions as above.
    std::vector<std::string> peer_certificates(const UdpEndpoint& peer) const;

    // Judges the peer's certificate chain (DER, leaf first) when a handshake completes, on
    // either side, before any message is written or delivered on the connection. An error
    // closes the connection: what was queued is dropped and the error handler gets the
    // error. Unset: every peer is accepted.
    using PeerVerifier = std::function<std::error_code(const UdpEndpoint& peer,
                                                       const std::vector<std::string>& chain)>;
    void set_peer_verifier(PeerVerifier verifier);
};

// RFC 3261 §18.2.2 for streams: `source` while its connection is open, else received (or
// sent-by host) and the sent-by port (default 5060) of the top Via.
UdpEndpoint stream_response_destination(const Via& via, const UdpEndpoint& source,
                                        bool connection_open);

}  // namespace p2psip::sip
