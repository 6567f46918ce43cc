// StunMapping against a real STUN server (Debian's coturn) on 127.0.0.1.
#include "p2psip/nat/stun_mapping.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "p2psip/nat/error.hpp"

extern char** environ;

namespace p2psip::nat {
namespace {

namespace asio = boost::asio;
using udp = asio::ip::udp;

uint16_t free_udp_port() {
    asio::io_context io;
    udp::socket s(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    return s.local_endpoint().port();
}

// coturn as a plain STUN server on 127.0.0.1:port, killed at the end of the test.
class Coturn {
  public:
    explicit Coturn(uint16_t port) {
        dir_ = std::filesystem::temp_directory_path() /
               ("p2psip-stun-" + std::to_string(::getpid()) + "-" + std::to_string(port));
        const auto& dir = dir_;
        std::filesystem::create_directories(dir);
        std::vector<std::string> args = {"turnserver",
                                         "-n",
                                         "--listening-ip=127.0.0.1",
                                         "--listening-port=" + std::to_string(port),
                                         "--stun-only",
                                         "--no-tls",
                                         "--no-dtls",
                                         "--no-cli",
                                         "--log-file=" + (dir / "turn.log").string(),
                                         "--pidfile=" + (dir / "turn.pid").string(),
                                         "--userdb=" + (dir / "turn.db").string()};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        if (posix_spawnp(&pid_, "turnserver", nullptr, nullptr, argv.data(), environ) != 0)
            pid_ = -1;
    }
    ~Coturn() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            int status = 0;
            ::waitpid(pid_, &status, 0);
        }
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    bool running() const { return pid_ > 0; }

  private:
    pid_t pid_ = -1;
    std::filesystem::path dir_;  // coturn's log, pid file and user db
};

bool have_turnserver() {
    for (const char* d : {"/usr/bin/turnserver", "/usr/sbin/turnserver"})
        if (std::filesystem::exists(d)) return true;
    return false;
}

struct Client {
    asio::io_context io;
    udp::socket socket{io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
    std::array<uint8_t, 1500> buf{};
    udp::endpoint from;
    std::shared_ptr<StunMapping> mapping;
    std::size_t other_datagrams = 0;

    void receive() {
        socket.async_receive_from(asio::buffer(buf), from, [this](auto ec, std::size_t n) {
            if (ec) return;
            if (!mapping->on_datagram({buf.data(), n}, from)) ++other_datagrams;
            receive();
        });
    }
    void make(udp::endpoint server, std::chrono::milliseconds interval) {
        StunMapping::Config cfg;
        cfg.server = server;
        cfg.interval = interval;
        mapping = StunMapping::create(
            io, cfg, [this](std::span<const uint8_t> d, const udp::endpoint& to) {
                boost::system::error_code ec;
                socket.send_to(asio::buffer(d.data(), d.size()), to, 0, ec);
            });
        receive();
    }
};

TEST(StunMapping, LearnsTheMappingAndRefreshesIt) {
    if (!have_turnserver()) GTEST_SKIP() << "coturn not installed";
    const auto port = free_udp_port();
    Coturn server(port);
    ASSERT_TRUE(server.running());
    Client c;
    c.make(udp::endpoint(asio::ip::make_address("127.0.0.1"), port),
           std::chrono::milliseconds(300));
    std::vector<std::pair<std::error_code, udp::endpoint>> results;
    c.mapping->start(
        [&](std::error_code ec, const udp::endpoint& m) { results.emplace_back(ec, m); });
    // Generous: coturn may take a moment to bind; the mapping retransmits meanwhile and a
    // timeout is retried 5 s later.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    auto successes = [&] {
        std::size_t n = 0;
        for (auto& r : results) n += !r.first;
        return n;
    };
    while (successes() < 2 && std::chrono::steady_clock::now() < deadline)
        c.io.run_for(std::chrono::milliseconds(50));
    ASSERT_GE(successes(), 2u) << "no STUN answer from coturn";
    // No NAT on loopback: the server sees the socket's own address.
    for (auto& r : results) {
        if (!r.first) {
            EXPECT_EQ(r.second, c.socket.local_endpoint());
        }
    }
    ASSERT_TRUE(c.mapping->mapped());
    EXPECT_EQ(*c.mapping->mapped(), c.socket.local_endpoint());
    EXPECT_EQ(c.other_datagrams, 0u);
    c.mapping->stop();
}

TEST(StunMapping, ReportsTimeoutWhenNobodyAnswers) {
    Client c;
    c.make(udp::endpoint(asio::ip::make_address("127.0.0.1"), free_udp_port()),
           std::chrono::seconds(60));
    std::error_code got;
    bool done = false;
    c.mapping->start([&](std::error_code ec, const udp::endpoint&) {
        got = ec;
        done = true;
    });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!done && std::chrono::steady_clock::now() < deadline)
        c.io.run_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(done);
    EXPECT_EQ(got, make_error_code(Errc::stun_timeout));
    EXPECT_FALSE(c.mapping->mapped());
}

TEST(StunMapping, IgnoresDatagramsThatAreNotItsStun) {
    Client c;
    const udp::endpoint server(asio::ip::make_address("127.0.0.1"), 3478);
    c.make(server, std::chrono::seconds(60));
    const std::string sip = "OPTIONS sip:x SIP/2.0\r\n\r\n";
    EXPECT_FALSE(
        c.mapping->on_datagram({reinterpret_cast<const uint8_t*>(sip.data()), sip.size()}, server));
    std::array<uint8_t, 20> stun{0x01, 0x01};  // a response-looking header from elsewhere
    EXPECT_FALSE(c.mapping->on_datagram(stun, udp::endpoint(server.address(), 9)));
    EXPECT_TRUE(StunMapping::is_stun(stun));
    EXPECT_FALSE(StunMapping::is_stun({reinterpret_cast<const uint8_t*>(sip.data()), sip.size()}));
}

}  // namespace
}  // namespace p2psip::nat
