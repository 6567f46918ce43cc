#pragma once

#include <utility>  // before Boost.Asio (project convention)

#include <boost/asio.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "p2psip/sip/message.hpp"
#include "p2psip/sip/uri.hpp"

namespace p2psip::sip {

namespace asio = boost::asio;
// An IP address and port. Named after UDP for history; stream transports use it too.
using UdpEndpoint = asio::ip::udp::endpoint;

// Transport protocol of a hop (RFC 3261 §18). Reliable ones (TCP, TLS) change the
// transaction timers (§17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2).
enum class TransportKind { udp, tcp, tls };
// Via sent-protocol transport token: "UDP", "TCP", "TLS" (§20.42).
std::string_view to_string(TransportKind kind);
inline bool is_reliable(TransportKind kind) {
    return kind != TransportKind::udp;
}
// The transport a URI asks for (RFC 3261 §19.1.1 transport param, §26.2.2 sips -> TLS);
// nullopt when it names none (or one we do not have, e.g. sctp).
std::optional<TransportKind> uri_transport(const Uri& uri);
// "tcp" / "tls" parameter value for a Contact/Request-URI; "" for UDP.
std::string_view uri_transport_param(TransportKind kind);

// Where a message goes (or came from): an address and the transport to use. Converts
// implicitly from an endpoint (= UDP) so that UDP-only callers are unchanged.
struct Destination {
    Destination() = default;
    Destination(const UdpEndpoint& ep, TransportKind kind = TransportKind::udp)  // NOLINT
        : endpoint(ep), transport(kind) {}
    UdpEndpoint endpoint;
    TransportKind transport = TransportKind::udp;
    bool operator==(const Destination&) const = default;
};

struct TransportStats {
    uint64_t received = 0;   // datagrams
    uint64_t delivered = 0;  // parsed messages handed to the handler
    uint64_t rejected = 0;   // malformed requests answered with 400/505
    uint64_t dropped = 0;    // malformed messages dropped silently
    uint64_t sent = 0;
};

// SIP over UDP (RFC 3261 §18). Lives on one io_context; all calls on that context's thread.
class UdpTransport {
  public:
    using MessageHandler = std::function<void(const Message& msg, const UdpEndpoint& from)>;

    explicit UdpTransport(asio::io_context& io);
    ~UdpTransport();
    UdpTransport(const UdpTransport&) = delete;
    UdpTransport& operator=(const UdpTransport&) = delete;

    // Binds to address:port (port 0 = ephemeral) and starts the receive loop.
    std::error_code open(std::string_view address, uint16_t port);
    void close();
    bool is_open() const;
    uint16_t local_port() const;
    UdpEndpoint local_endpoint() const;

    // Parsed messages. Requests carry received/rport on their top Via (§18.2.1, RFC 3581).
    // Malformed requests are answered (400 with the error as reason, 505 for versions) and
    // malformed responses dropped before reaching the handler (§8.2, §18.1.2), as are
    // responses with more than one Via (§8.1.3.3). Datagrams up to 65535 bytes.
    void set_handler(MessageHandler handler);

    // Sees every received datagram before SIP parsing; returning true consumes it. For
    // protocols multiplexed on the SIP socket, e.g. STUN keep-alives (RFC 5626 §4.4.1).
    using RawHandler = std::function<bool(std::span<const uint8_t>, const UdpEndpoint& from)>;
    void set_raw_handler(RawHandler handler);
    // Told about every datagram this transport sends (after it is queued), so another
    // path can carry a copy, e.g. through the DHT to a peer behind NAT.
    using SendObserver = std::function<void(std::string_view datagram, const UdpEndpoint& to)>;
    void set_send_observer(SendObserver observer);
    // Handles `datagram` exactly as if it had arrived from `from` on the socket (for
    // messages that came another way). No-op when closed.
    void inject(std::string_view datagram, const UdpEndpoint& from);

    // Asynchronous send of one datagram; errors other than "not open" are only counted.
    std::error_code send(std::string datagram, const UdpEndpoint& to);
    // Sends a response to where §18.2.2 says (top Via of `request`: received/rport, else
    // sent-by); `fallback` is used when the Via does not give an IP address.
    std::error_code send_response(const OutgoingMessage& response, const Message& request,
                                  const UdpEndpoint& fallback);

    const TransportStats& stats() const;

  private:
    struct State;
    std::shared_ptr<State> state_;
};

// RFC 3261 §18.2.1 / RFC 3581 §4: when the source address differs from the top Via sent-by
// (or rport is requested), rewrites `msg` with received= (and rport=<port>) added.
std::error_code stamp_received(Message& msg, const UdpEndpoint& source);

// RFC 3261 §18.2.2 (+ RFC 3581 §4) destination of a response for this top Via.
std::error_code response_destination(const Via& via, UdpEndpoint& out);

// Parses "1.2.3.4" / "::1" / "[::1]" + port into an endpoint (no DNS).
std::error_code make_endpoint(std::string_view host, uint16_t port, UdpEndpoint& out);

}  // namespace p2psip::sip
