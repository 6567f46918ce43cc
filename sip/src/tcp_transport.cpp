#include "p2psip/sip/tcp_transport.hpp"

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <deque>
#include <map>
#include <optional>

#include "p2psip/sip/error.hpp"
#include "text.hpp"

namespace p2psip::sip {

namespace {

using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

UdpEndpoint to_udp(const tcp::endpoint& ep) {
    return UdpEndpoint(ep.address(), ep.port());
}

// Answers a request that the transport itself rejects (RFC 3261 §8.2: whenever there is a
// Via to answer to; never an ACK). Empty when the message is not answerable.
std::string rejection(const Message& msg, int code, std::string_view reason) {
    if (!msg.is_request() || msg.method() == "ACK" || !msg.has_header("Via")) return {};
    return make_response(msg, code, reason).to_string();
}

// End of the header section (index after the empty line), npos when not there yet.
std::size_t header_section_end(std::string_view b) {
    std::size_t crlf = b.find("\r\n\r\n");
    std::size_t lf = b.find("\n\n");
    if (crlf == std::string_view::npos && lf == std::string_view::npos) return std::string::npos;
    if (lf == std::string_view::npos || (crlf != std::string_view::npos && crlf < lf))
        return crlf + 4;
    return lf + 2;
}

}  // namespace

UdpEndpoint stream_response_destination(const Via& via, const UdpEndpoint& source,
                                        bool connection_open) {
    // RFC 3261 §18.2.2: the connection the request came on; if it is gone, a new one to
    // the address in received (else sent-by) and the sent-by port (rport does not apply:
    // the source port of a connection is not listening).
    if (connection_open) return source;
    UdpEndpoint to;
    std::string_view host = via.received ? *via.received : via.host;
    if (make_endpoint(host, via.port ? via.port : 5060, to)) return source;
    return to;
}

using detail::TcpConnection;

struct TcpTransport::State : std::enable_shared_from_this<TcpTransport::State> {
    State(asio::io_context& io, TcpConfig cfg) : io(io), cfg(cfg), acceptor(io) {}
    ~State() {
        if (tls_cred) gnutls_certificate_free_credentials(tls_cred);
    }
    asio::io_context& io;
    std::optional<TlsCredentials> tls;  // TLS when set
    gnutls_certificate_credentials_t tls_cred = nullptr;
    TcpConfig cfg;
    tcp::acceptor acceptor;
    asio::ip::address local_address;
    std::map<UdpEndpoint, std::shared_ptr<TcpConnection>> conns;
    MessageHandler handler;
    ErrorHandler error_handler;
    TlsTransport::PeerVerifier verifier;
    TcpTransportStats stats;
    bool open = false;

    void accept();
    std::shared_ptr<TcpConnection> connect(const UdpEndpoint& to);
    void forget(const TcpConnection* c);
    void on_message(TcpConnection& c, std::string data);
    void report(const UdpEndpoint& peer, std::error_code ec) {
        if (!error_handler) return;
        auto h = error_handler;
        h(peer, ec);
    }
};

// One stream. Owned by State::conns while open; its handlers keep it alive meanwhile.
struct detail::TcpConnection : std::enable_shared_from_this<TcpConnection> {
    using State = TcpTransport::State;
    TcpConnection(std::shared_ptr<State> st, tcp::socket s, UdpEndpoint peer, bool client)
        : st(std::move(st)),
          socket(std::move(s)),
          peer(peer),
          timer(socket.get_executor()),
          client(client) {}
    ~TcpConnection() {
        if (tls) gnutls_deinit(tls);
    }

    std::shared_ptr<State> st;
    tcp::socket socket;
    UdpEndpoint peer;
    asio::steady_timer timer;  // connect timeout, then idle limit / drain grace
    Clock::time_point last_activity = Clock::now();
    std::array<char, 8192> rbuf{};
    std::string inbuf;
    std::deque<std::string> outq;
    bool connected = false;
    bool writing = false;
    bool draining = false;  // closing after a framing error: flush, then close
    bool closed = false;
    bool client;  // we connected (TLS client role)
    // TLS (GnuTLS on memory buffers: ciphertext in from the socket, out to the queue).
    gnutls_session_t tls = nullptr;
    bool tls_ready = false;  // handshake done
    std::string tls_in, tls_out;
    std::deque<std::string> pending_plain;  // written before the handshake completed
    std::string peer_spki;
    std::vector<std::string> peer_certs;  // DER, leaf first

    void start() {
        connected = true;
        last_activity = Clock::now();
        arm_timer(st->cfg.idle_timeout);
        read();
        if (st->tls) {
            if (!tls_start()) return;
        }
        write_next();
    }

    // ------------------------------------------------------------ TLS

    static ssize_t tls_push(gnutls_transport_ptr_t p, const void* data, size_t len) {
        static_cast<TcpConnection*>(p)->tls_out.append(static_cast<const char*>(data), len);
        return static_cast<ssize_t>(len);
    }
    static ssize_t tls_pull(gnutls_transport_ptr_t p, void* data, size_t len) {
        auto* c = static_cast<TcpConnection*>(p);
        if (c->tls_in.empty()) {
            gnutls_transport_set_errno(c->tls, EAGAIN);
            return -1;
        }
        std::size_t n = std::min(len, c->tls_in.size());
        std::memcpy(data, c->tls_in.data(), n);
        c->tls_in.erase(0, n);
        return static_cast<ssize_t>(n);
    }

    bool tls_start() {
        int r = gnutls_init(&tls, (client ? GNUTLS_CLIENT : GNUTLS_SERVER) | GNUTLS_NONBLOCK);
        if (r == 0) r = gnutls_set_default_priority(tls);
        if (r == 0) r = gnutls_credentials_set(tls, GNUTLS_CRD_CERTIFICATE, st->tls_cred);
        if (r != 0) {
            close(Errc::tls_failed);
            return false;
        }
        // Both ends show a certificate: the caller checks the peer's key itself (no CA).
        if (!client) gnutls_certificate_server_set_request(tls, GNUTLS_CERT_REQUIRE);
        gnutls_transport_set_ptr(tls, this);
        gnutls_transport_set_push_function(tls, &TcpConnection::tls_push);
        gnutls_transport_set_pull_function(tls, &TcpConnection::tls_pull);
        tls_handshake();
        return !closed;
    }

    void tls_flush() {
        if (tls_out.empty()) return;
        std::string out;
        out.swap(tls_out);
        outq.push_back(std::move(out));
        write_next();
    }

    void tls_handshake() {
        int r = gnutls_handshake(tls);
        if (r == GNUTLS_E_SUCCESS) {
            read_peer_key();
            // The owner's judgement of the peer's certificate comes before any message is
            // written or delivered: a refused peer never sees what was queued for it.
            if (st->verifier) {
                auto verify = st->verifier;
                if (auto ec = verify(peer, peer_certs)) {
                    ++st->stats.tls_refused;
                    pending_plain.clear();
                    close(ec);
                    return;
                }
            }
            tls_ready = true;
            while (!pending_plain.empty() && !closed) {
                tls_encrypt(pending_plain.front());
                pending_plain.pop_front();
            }
        } else if (r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED && gnutls_error_is_fatal(r)) {
            tls_flush();  // an alert, if any
            close(Errc::tls_failed);
            return;
        }
        tls_flush();
    }

    void read_peer_key() {
        unsigned n = 0;
        const gnutls_datum_t* certs = gnutls_certificate_get_peers(tls, &n);
        if (!certs || n == 0) return;
        for (unsigned i = 0; i < n; ++i)
            peer_certs.emplace_back(reinterpret_cast<const char*>(certs[i].data), certs[i].size);
        gnutls_x509_crt_t crt;
        if (gnutls_x509_crt_init(&crt) != 0) return;
        gnutls_pubkey_t key;
        if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) == 0 &&
            gnutls_pubkey_init(&key) == 0) {
            gnutls_datum_t der{};
            if (gnutls_pubkey_import_x509(key, crt, 0) == 0 &&
                gnutls_pubkey_export2(key, GNUTLS_X509_FMT_DER, &der) == 0) {
                peer_spki.assign(reinterpret_cast<const char*>(der.data), der.size);
                gnutls_free(der.data);
            }
            gnutls_pubkey_deinit(key);
        }
        gnutls_x509_crt_deinit(crt);
    }

    void tls_encrypt(const std::string& plain) {
        std::size_t off = 0;
        while (off < plain.size()) {
            ssize_t n = gnutls_record_send(tls, plain.data() + off, plain.size() - off);
            if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) continue;
            if (n < 0) {
                close(Errc::tls_failed);
                return;
            }
            off += static_cast<std::size_t>(n);
        }
        tls_flush();
    }

    // Ciphertext arrived: handshake, or decrypt into inbuf and frame.
    void tls_received() {
        if (!tls_ready) {
            tls_handshake();
            if (!tls_ready || closed) return;
        }
        std::array<char, 16384> plain;
        for (;;) {
            ssize_t n = gnutls_record_recv(tls, plain.data(), plain.size());
            if (n > 0) {
                inbuf.append(plain.data(), static_cast<std::size_t>(n));
                continue;
            }
            if (n == 0) {  // close_notify
                process();
                if (!closed) close({});
                return;
            }
            if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) break;
            if (gnutls_error_is_fatal(static_cast<int>(n))) {
                close(Errc::tls_failed);
                return;
            }
        }
        tls_flush();
        process();
    }

    void arm_timer(std::chrono::milliseconds d) {
        timer.expires_after(d);
        timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
            if (ec || self->closed) return;
            self->on_timer();
        });
    }

    void on_timer() {
        if (!connected) {
            close(Errc::connection_failed);  // connect timeout
            return;
        }
        if (draining) {
            close({});
            return;
        }
        auto idle = Clock::now() - last_activity;
        if (idle >= st->cfg.idle_timeout) {
            ++st->stats.idle_closed;
            close({});
            return;
        }
        arm_timer(
            std::chrono::duration_cast<std::chrono::milliseconds>(st->cfg.idle_timeout - idle) +
            std::chrono::milliseconds(1));
    }

    void read() {
        socket.async_read_some(
            asio::buffer(rbuf),
            [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                if (self->closed) return;
                if (ec) {
                    // A peer closing is normal; queued data is lost then (reported).
                    self->close(self->outq.empty() ? std::error_code{}
                                                   : make_error_code(Errc::connection_closed));
                    return;
                }
                self->last_activity = Clock::now();
                if (!self->draining) {
                    if (self->tls) {
                        self->tls_in.append(self->rbuf.data(), n);
                        self->tls_received();
                    } else {
                        self->inbuf.append(self->rbuf.data(), n);
                        self->process();
                    }
                }
                if (!self->closed) self->read();
            });
    }

    // Frames and delivers every complete message in inbuf (RFC 3261 §18.3).
    void process() {
        auto self = shared_from_this();
        const std::size_t max = st->cfg.max_message_size;
        while (!closed && !draining && st->open && !inbuf.empty()) {
            // RFC 5626 §3.5.1: "\r\n\r\n" is a ping answered with "\r\n"; a lone CRLF
            // (a pong, or padding between messages, §7.5) is ignored.
            if (inbuf.starts_with("\r\n\r\n")) {
                inbuf.erase(0, 4);
                ++st->stats.pings;
                write("\r\n");
                continue;
            }
            if (inbuf.starts_with("\r\n")) {
                if (inbuf.size() >= 4 || (inbuf.size() == 3 && inbuf[2] != '\r')) {
                    inbuf.erase(0, 2);
                    ++st->stats.pongs;
                    continue;
                }
                return;  // maybe the first half of a ping
            }
            std::size_t len = 0;
            auto ec = frame_stream_message(inbuf, len);
            if (ec == Errc::incomplete_message) {
                if (inbuf.size() > max) reject_stream(513, Errc::message_too_large);
                return;
            }
            if (ec) {
                // §18.3, §20.14: without a usable Content-Length the stream cannot be framed.
                reject_stream(400, ec);
                return;
            }
            if (len > max) {
                reject_stream(513, Errc::message_too_large);
                return;
            }
            std::string msg = inbuf.substr(0, len);
            inbuf.erase(0, len);
            st->on_message(*this, std::move(msg));
        }
    }

    // The stream cannot be framed any more: answer what can be answered, then close.
    void reject_stream(int code, std::error_code ec) {
        ++st->stats.framing_errors;
        std::size_t head = header_section_end(inbuf);
        if (head != std::string::npos) {
            Message msg;
            (void)parse_message(inbuf.substr(0, head), msg, Framing::datagram);
            std::string r = rejection(msg, code, ec.message());
            if (!r.empty()) {
                ++st->stats.rejected;
                write(std::move(r));
            }
        }
        inbuf.clear();
        draining = true;
        st->forget(this);  // not reused for anything else while it drains
        if (outq.empty() && !writing) finish_drain();
    }

    void finish_drain() {
        // Half-close so that our answer is not lost to a reset, and give the peer a moment
        // to close its side.
        boost::system::error_code ignored;
        socket.shutdown(tcp::socket::shutdown_send, ignored);
        arm_timer(std::min(st->cfg.idle_timeout, std::chrono::milliseconds(2000)));
    }

    // Plaintext SIP bytes (encrypted first over TLS).
    void write(std::string data) {
        if (closed) return;
        if (st->tls) {
            if (!tls_ready) {
                pending_plain.push_back(std::move(data));
            } else {
                tls_encrypt(data);
            }
            return;
        }
        outq.push_back(std::move(data));
        write_next();
    }

    void write_next() {
        if (!connected || writing || closed) return;
        if (outq.empty()) {
            if (draining) finish_drain();
            return;
        }
        writing = true;
        asio::async_write(
            socket, asio::buffer(outq.front()),
            [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                self->writing = false;
                if (self->closed) return;
                if (ec) {
                    self->close(Errc::connection_closed);
                    return;
                }
                self->last_activity = Clock::now();
                self->outq.pop_front();
                self->write_next();
            });
    }

    void close(std::error_code reason) {
        if (closed) return;
        closed = true;
        boost::system::error_code ignored;
        socket.close(ignored);
        timer.cancel();
        outq.clear();
        ++st->stats.closed;
        auto keep = st;
        keep->forget(this);
        if (reason && keep->open) keep->report(peer, reason);
    }
};

void TcpTransport::State::accept() {
    acceptor.async_accept(
        [self = shared_from_this()](const boost::system::error_code& ec, tcp::socket s) {
            if (!self->open) return;
            if (!ec) {
                boost::system::error_code rec;
                auto remote = s.remote_endpoint(rec);
                if (!rec) {
                    ++self->stats.accepted;
                    auto c = std::make_shared<TcpConnection>(self, std::move(s), to_udp(remote),
                                                             /*client=*/false);
                    self->conns[c->peer] = c;  // newest connection to that endpoint wins
                    c->start();
                }
            }
            self->accept();
        });
}

std::shared_ptr<TcpConnection> TcpTransport::State::connect(const UdpEndpoint& to) {
    tcp::socket s(io);
    boost::system::error_code ec;
    s.open(to.address().is_v6() ? tcp::v6() : tcp::v4(), ec);
    // Outgoing connections leave from the listening address (not its port).
    if (!ec && !local_address.is_unspecified() && local_address.is_v6() == to.address().is_v6())
        s.bind(tcp::endpoint(local_address, 0), ec);
    auto c = std::make_shared<TcpConnection>(shared_from_this(), std::move(s), to,
                                             /*client=*/true);
    conns[to] = c;
    if (ec) {
        ++stats.connect_failed;
        asio::post(io, [c] { c->close(Errc::connection_failed); });
        return c;
    }
    c->arm_timer(cfg.connect_timeout);
    c->socket.async_connect(tcp::endpoint(to.address(), to.port()),
                            [c](const boost::system::error_code& ec) {
                                if (c->closed) return;
                                if (ec) {
                                    ++c->st->stats.connect_failed;
                                    c->close(Errc::connection_failed);
                                    return;
                                }
                                ++c->st->stats.connected;
                                c->timer.cancel();
                                c->start();
                            });
    return c;
}

void TcpTransport::State::forget(const TcpConnection* c) {
    auto it = conns.find(c->peer);
    if (it != conns.end() && it->second.get() == c) conns.erase(it);
}

void TcpTransport::State::on_message(TcpConnection& c, std::string data) {
    ++stats.received;
    Message msg;
    if (auto ec = parse_message(std::move(data), msg, Framing::stream)) {
        // Framed correctly but malformed: answered like over UDP (§8.2), stream kept.
        std::string r = rejection(msg, ec == Errc::unsupported_version ? 505 : 400, ec.message());
        if (r.empty()) {
            ++stats.dropped;
        } else {
            ++stats.rejected;
            c.write(std::move(r));
        }
        return;
    }
    if (msg.is_request()) {
        if (stamp_received(msg, c.peer)) {  // §18.2.1
            ++stats.dropped;
            return;
        }
    } else if (msg.headers("Via").size() > 1) {
        ++stats.dropped;  // §8.1.3.3
        return;
    }
    ++stats.delivered;
    if (handler) {
        auto h = handler;
        h(msg, c.peer);
    }
}

// ================================================================ TcpTransport

TcpTransport::TcpTransport(asio::io_context& io, TcpConfig config)
    : state_(std::make_shared<State>(io, config)) {}

TcpTransport::TcpTransport(asio::io_context& io, TcpConfig config, TlsCredentials credentials)
    : state_(std::make_shared<State>(io, config)) {
    state_->tls = std::move(credentials);
}

TlsTransport::TlsTransport(asio::io_context& io, TlsCredentials credentials, TcpConfig config)
    : TcpTransport(io, config, std::move(credentials)) {}

std::string TlsTransport::peer_public_key(const UdpEndpoint& peer) const {
    auto it = state_->conns.find(peer);
    return it == state_->conns.end() ? std::string() : it->second->peer_spki;
}

void TlsTransport::set_peer_verifier(PeerVerifier verifier) {
    state_->verifier = std::move(verifier);
}

std::vector<std::string> TlsTransport::peer_certificates(const UdpEndpoint& peer) const {
    auto it = state_->conns.find(peer);
    return it == state_->conns.end() ? std::vector<std::string>() : it->second->peer_certs;
}

TcpTransport::~TcpTransport() {
    close();
}

std::error_code TcpTransport::open(std::string_view address, uint16_t port) {
    auto& s = *state_;
    if (s.open) return Errc::already_open;
    if (s.tls && !s.tls_cred) {
        gnutls_datum_t cert{reinterpret_cast<unsigned char*>(s.tls->certificate_pem.data()),
                            static_cast<unsigned>(s.tls->certificate_pem.size())};
        gnutls_datum_t key{reinterpret_cast<unsigned char*>(s.tls->private_key_pem.data()),
                           static_cast<unsigned>(s.tls->private_key_pem.size())};
        if (gnutls_certificate_allocate_credentials(&s.tls_cred) != 0) {
            s.tls_cred = nullptr;
            return Errc::tls_failed;
        }
        // _mem2 loads every certificate of the PEM (leaf, then issuers): the whole chain is
        // sent in the handshake (RFC 8446 §4.4.2).
        if (gnutls_certificate_set_x509_key_mem2(s.tls_cred, &cert, &key, GNUTLS_X509_FMT_PEM,
                                                 nullptr, 0) < 0) {
            gnutls_certificate_free_credentials(s.tls_cred);
            s.tls_cred = nullptr;
            return Errc::tls_failed;
        }
    }
    UdpEndpoint ep;
    if (auto ec = make_endpoint(address, port, ep)) return ec;
    tcp::endpoint tep(ep.address(), ep.port());
    boost::system::error_code bec;
    s.acceptor.open(tep.protocol(), bec);
    if (!bec) s.acceptor.set_option(tcp::acceptor::reuse_address(true), bec);
    if (!bec) s.acceptor.bind(tep, bec);
    if (!bec) s.acceptor.listen(asio::socket_base::max_listen_connections, bec);
    if (bec) {
        boost::system::error_code ignored;
        s.acceptor.close(ignored);
        return std::make_error_code(static_cast<std::errc>(bec.value()));
    }
    s.local_address = ep.address();
    s.open = true;
    s.accept();
    return {};
}

void TcpTransport::close() {
    if (!state_ || !state_->open) return;
    auto& s = *state_;
    s.open = false;
    s.handler = nullptr;
    s.error_handler = nullptr;
    boost::system::error_code ignored;
    s.acceptor.close(ignored);
    auto conns = std::move(s.conns);
    s.conns.clear();
    for (auto& [ep, c] : conns) c->close({});
}

bool TcpTransport::is_open() const {
    return state_->open;
}

UdpEndpoint TcpTransport::local_endpoint() const {
    boost::system::error_code ec;
    auto ep = state_->acceptor.local_endpoint(ec);
    return ec ? UdpEndpoint{} : to_udp(ep);
}

uint16_t TcpTransport::local_port() const {
    return local_endpoint().port();
}

void TcpTransport::set_handler(MessageHandler handler) {
    state_->handler = std::move(handler);
}

void TcpTransport::set_error_handler(ErrorHandler handler) {
    state_->error_handler = std::move(handler);
}

std::error_code TcpTransport::send(std::string data, const UdpEndpoint& to) {
    auto& s = *state_;
    if (!s.open) return Errc::not_open;
    if (data.size() > s.cfg.max_message_size) return Errc::message_too_large;
    auto it = s.conns.find(to);
    auto c = it != s.conns.end() ? it->second : s.connect(to);
    ++s.stats.sent;
    c->write(std::move(data));
    return {};
}

std::error_code TcpTransport::send_response(const OutgoingMessage& response, const Message& request,
                                            const UdpEndpoint& source) {
    return send(response.to_string(),
                stream_response_destination(request.via(), source, has_connection(source)));
}

std::error_code TcpTransport::ping(const UdpEndpoint& peer) {
    auto& s = *state_;
    if (!s.open) return Errc::not_open;
    auto it = s.conns.find(peer);
    if (it == s.conns.end()) return Errc::no_route;
    it->second->write("\r\n\r\n");
    return {};
}

bool TcpTransport::has_connection(const UdpEndpoint& peer) const {
    return state_->conns.count(peer) != 0;
}

std::size_t TcpTransport::connection_count() const {
    return state_->conns.size();
}

void TcpTransport::close_connection(const UdpEndpoint& peer) {
    auto it = state_->conns.find(peer);
    if (it == state_->conns.end()) return;
    auto c = it->second;
    c->close({});
}

const TcpConfig& TcpTransport::config() const {
    return state_->cfg;
}

const TcpTransportStats& TcpTransport::stats() const {
    return state_->stats;
}

}  // namespace p2psip::sip
