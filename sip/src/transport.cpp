#include "p2psip/sip/transport.hpp"

#include <array>

#include "p2psip/sip/error.hpp"
#include "text.hpp"

namespace p2psip::sip {

struct UdpTransport::State : std::enable_shared_from_this<UdpTransport::State> {
    explicit State(asio::io_context& io) : socket(io) {}
    asio::ip::udp::socket socket;
    std::array<char, 65536> buffer{};
    UdpEndpoint sender;
    MessageHandler handler;
    RawHandler raw_handler;
    SendObserver send_observer;
    TransportStats stats;
    bool open = false;

    void receive() {
        socket.async_receive_from(
            asio::buffer(buffer), sender,
            [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                if (!self->open) return;
                if (ec == asio::error::operation_aborted) return;
                if (!ec) self->on_datagram(n);
                self->receive();
            });
    }

    void send(std::string data, const UdpEndpoint& to) {
        auto buf = std::make_shared<std::string>(std::move(data));
        ++stats.sent;
        socket.async_send_to(asio::buffer(*buf), to,
                             [buf](const boost::system::error_code&, std::size_t) {});
        if (send_observer) {
            auto observer = send_observer;
            observer(*buf, to);
        }
    }

    void on_datagram(std::size_t n) {
        ++stats.received;
        if (raw_handler) {
            auto raw = raw_handler;
            if (raw(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(buffer.data()), n),
                    sender))
                return;
        }
        on_message(std::string_view(buffer.data(), n), sender);
    }

    void on_message(std::string_view data, const UdpEndpoint& from) {
        // Keep-alives (RFC 5626 CRLF) and stray whitespace are ignored.
        if (detail::trim(data).empty()) return;
        Message msg;
        auto ec = parse_message(std::string(data), msg);
        if (ec) {
            reject(msg, ec, from);
            return;
        }
        if (msg.is_request()) {
            if (stamp_received(msg, from)) {
                ++stats.dropped;
                return;
            }
        } else if (msg.headers("Via").size() > 1) {
            // §8.1.3.3: a response with more than one Via is discarded by a UAC (RFC 4475
            // §3.3.10: the broadcast address in the second Via is never used).
            ++stats.dropped;
            return;
        }
        ++stats.delivered;
        if (handler) {
            auto h = handler;  // the handler may replace itself
            h(msg, from);
        }
    }

    void reject(const Message& msg, std::error_code ec, const UdpEndpoint& from) {
        // RFC 3261 §8.2: answer a malformed request whenever there is a Via to answer to,
        // copying what it has (RFC 4475 §3.3.1: 400 even without From/To/Call-ID); never
        // answer an ACK; malformed responses are discarded (§18.1.2).
        bool answerable = msg.is_request() && msg.method() != "ACK" && msg.has_header("Via");
        if (!answerable) {
            ++stats.dropped;
            return;
        }
        int code = ec == Errc::unsupported_version ? 505 : 400;
        auto resp = make_response(msg, code, ec.message());
        // Where the response would go after stamping received/rport (§18.2.1, §18.2.2):
        // the source address, and the source port when rport was asked for.
        UdpEndpoint to = from;
        Via via;
        auto vias = msg.headers("Via");
        if (!vias.empty() && !parse_via(vias.front(), via) && !via.has_rport)
            to.port(via.port ? via.port : 5060);
        ++stats.rejected;
        send(resp.to_string(), to);
    }
};

UdpTransport::UdpTransport(asio::io_context& io) : state_(std::make_shared<State>(io)) {}

UdpTransport::~UdpTransport() {
    close();
}

std::error_code UdpTransport::open(std::string_view address, uint16_t port) {
    if (state_->open) return Errc::already_open;
    UdpEndpoint ep;
    if (auto ec = make_endpoint(address, port, ep)) return ec;
    boost::system::error_code bec;
    state_->socket.open(ep.protocol(), bec);
    if (!bec) state_->socket.bind(ep, bec);
    if (bec) {
        boost::system::error_code ignored;
        state_->socket.close(ignored);
        return std::make_error_code(static_cast<std::errc>(bec.value()));
    }
    state_->open = true;
    state_->receive();
    return {};
}

void UdpTransport::close() {
    if (!state_ || !state_->open) return;
    state_->open = false;
    state_->handler = nullptr;
    state_->raw_handler = nullptr;
    state_->send_observer = nullptr;
    boost::system::error_code ignored;
    state_->socket.close(ignored);
}

bool UdpTransport::is_open() const {
    return state_->open;
}

UdpEndpoint UdpTransport::local_endpoint() const {
    boost::system::error_code ec;
    auto ep = state_->socket.local_endpoint(ec);
    return ec ? UdpEndpoint{} : ep;
}

uint16_t UdpTransport::local_port() const {
    return local_endpoint().port();
}

void UdpTransport::set_handler(MessageHandler handler) {
    state_->handler = std::move(handler);
}

void UdpTransport::set_raw_handler(RawHandler handler) {
    state_->raw_handler = std::move(handler);
}

void UdpTransport::set_send_observer(SendObserver observer) {
    state_->send_observer = std::move(observer);
}

void UdpTransport::inject(std::string_view datagram, const UdpEndpoint& from) {
    if (!state_->open) return;
    ++state_->stats.received;
    state_->on_message(datagram, from);
}

std::error_code UdpTransport::send(std::string datagram, const UdpEndpoint& to) {
    if (!state_->open) return Errc::not_open;
    state_->send(std::move(datagram), to);
    return {};
}

std::error_code UdpTransport::send_response(const OutgoingMessage& response, const Message& request,
                                            const UdpEndpoint& fallback) {
    UdpEndpoint to;
    if (response_destination(request.via(), to)) to = fallback;
    return send(response.to_string(), to);
}

const TransportStats& UdpTransport::stats() const {
    return state_->stats;
}

std::string_view to_string(TransportKind kind) {
    switch (kind) {
        case TransportKind::udp:
            return "UDP";
        case TransportKind::tcp:
            return "TCP";
        case TransportKind::tls:
            return "TLS";
    }
    return "UDP";
}

std::string_view uri_transport_param(TransportKind kind) {
    switch (kind) {
        case TransportKind::tcp:
            return "tcp";
        case TransportKind::tls:
            return "tls";
        default:
            return "";
    }
}

std::optional<TransportKind> uri_transport(const Uri& uri) {
    if (auto t = uri.param("transport")) {
        if (detail::iequals(*t, "udp")) return TransportKind::udp;
        if (detail::iequals(*t, "tcp"))
            return uri.scheme == "sips" ? TransportKind::tls : TransportKind::tcp;
        if (detail::iequals(*t, "tls")) return TransportKind::tls;
        return std::nullopt;
    }
    if (uri.scheme == "sips") return TransportKind::tls;  // §26.2.2: TLS on every hop
    return std::nullopt;
}

std::error_code make_endpoint(std::string_view host, uint16_t port, UdpEndpoint& out) {
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(std::string(host), ec);
    if (ec) return Errc::bad_address;
    out = UdpEndpoint(addr, port);
    return {};
}

std::error_code response_destination(const Via& via, UdpEndpoint& out) {
    uint16_t port = via.rport ? *via.rport : (via.port ? via.port : 5060);
    if (via.received) return make_endpoint(*via.received, port, out);
    if (via.host.empty()) return Errc::no_route;
    // A host name would need DNS (RFC 3263); stamp_received() always adds received= then.
    return make_endpoint(via.host, port, out);
}

std::error_code stamp_received(Message& msg, const UdpEndpoint& source) {
    const Via& via = msg.via();
    const std::string& raw = msg.raw();
    if (via.text.empty()) return Errc::bad_via;
    boost::system::error_code bec;
    auto sent_by = asio::ip::make_address(std::string(via.host), bec);
    bool differs = bec || sent_by != source.address();
    bool want_rport = via.has_rport && !via.rport;
    if ((!differs && !want_rport) || (via.received && !want_rport)) return {};

    std::string out = raw;
    std::size_t via_end = static_cast<std::size_t>(via.text.data() + via.text.size() - raw.data());
    if (!via.received) out.insert(via_end, ";received=" + source.address().to_string());
    if (want_rport) {
        for (const auto& [n, v] : via.params) {
            if (detail::iequals(n, "rport")) {
                auto name_end = static_cast<std::size_t>(n.data() + n.size() - raw.data());
                out.insert(name_end, "=" + std::to_string(source.port()));
                break;
            }
        }
    }
    Message stamped;
    if (auto ec = parse_message(std::move(out), stamped)) return ec;
    msg = std::move(stamped);
    return {};
}

}  // namespace p2psip::sip
