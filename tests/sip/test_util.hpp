#pragma once
// Helpers shared by the sip tests: run an io_context until a condition holds, and a raw
// UDP peer that records what it receives.

#include <utility>  // before Boost.Asio (project convention)

#include <boost/asio.hpp>

#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace sip_test {

namespace asio = boost::asio;
using namespace std::chrono_literals;

inline bool run_until(asio::io_context& io, const std::function<bool()>& pred,
                      std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred() && std::chrono::steady_clock::now() < deadline) {
        io.run_for(5ms);
        if (io.stopped()) {
            io.restart();
            std::this_thread::sleep_for(1ms);
        }
    }
    return pred();
}

inline void run_for(asio::io_context& io, std::chrono::milliseconds d) {
    run_until(
        io, [] { return false; }, d);
}

struct Datagram {
    std::string data;
    asio::ip::udp::endpoint from;
    std::chrono::steady_clock::time_point at;
};

// A plain UDP socket on 127.0.0.1 that records every datagram.
class RawPeer {
  public:
    explicit RawPeer(asio::io_context& io)
        : RawPeer(io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {}
    RawPeer(asio::io_context& io, const asio::ip::udp::endpoint& local) : socket_(io, local) {
        receive();
    }
    // A peer on 127.0.0.N:port for the first free N (N >= 2). Responses to a request whose
    // top Via has no rport go to the source address and the Via port or 5060 (RFC 3261
    // §18.2.2), so a peer standing in for a remote host must own that port.
    static std::unique_ptr<RawPeer> on_port(asio::io_context& io, uint16_t port) {
        const unsigned start = 2 + static_cast<unsigned>(::getpid()) % 200;
        for (unsigned k = 0; k < 250; ++k) {
            unsigned n = 2 + (start - 2 + k) % 250;
            auto addr = asio::ip::make_address_v4("127.0.0." + std::to_string(n));
            try {
                return std::make_unique<RawPeer>(io, asio::ip::udp::endpoint(addr, port));
            } catch (const boost::system::system_error&) {
                // address in use: try the next one
            }
        }
        return nullptr;
    }
    ~RawPeer() {
        boost::system::error_code ec;
        socket_.close(ec);
    }
    uint16_t port() const { return socket_.local_endpoint().port(); }
    asio::ip::udp::endpoint endpoint() const { return socket_.local_endpoint(); }
    void send(const std::string& data, const asio::ip::udp::endpoint& to) {
        socket_.send_to(asio::buffer(data), to);
    }
    std::vector<Datagram> received;

  private:
    void receive() {
        socket_.async_receive_from(
            asio::buffer(buf_), from_, [this](const boost::system::error_code& ec, std::size_t n) {
                if (ec) return;
                received.push_back(
                    {std::string(buf_.data(), n), from_, std::chrono::steady_clock::now()});
                receive();
            });
    }
    asio::ip::udp::socket socket_;
    std::array<char, 65536> buf_{};
    asio::ip::udp::endpoint from_;
};

inline std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// Replaces "\n" by "\r\n" so tests can write messages as plain string literals.
inline std::string crlf(std::string_view s) {
    std::string r;
    for (char c : s) {
        if (c == '\n') r += '\r';
        r += c;
    }
    return r;
}

}  // namespace sip_test
