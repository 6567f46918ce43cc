#include "p2psip/nat/udp_path.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "p2psip/nat/error.hpp"

using namespace p2psip::nat;
namespace asio = boost::asio;

namespace {
bool run_until(asio::io_context& io, const std::function<bool()>& pred) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!pred() && std::chrono::steady_clock::now() < deadline) {
        io.restart();
        io.run_for(std::chrono::milliseconds(10));
    }
    return pred();
}
}  // namespace

TEST(UdpPath, ExchangesDatagramsBothWays) {
    asio::io_context io;
    std::error_code ec;
    auto a = UdpPath::open(io, "127.0.0.1", ec);
    ASSERT_TRUE(a) << ec.message();
    auto b = UdpPath::open(io, "127.0.0.1", ec);
    ASSERT_TRUE(b) << ec.message();
    ASSERT_FALSE(a->set_remote("127.0.0.1", b->local_port()));
    ASSERT_FALSE(b->set_remote("127.0.0.1", a->local_port()));
    std::vector<std::vector<std::uint8_t>> at_a, at_b;
    a->on_receive([&](std::span<const std::uint8_t> d) { at_a.emplace_back(d.begin(), d.end()); });
    b->on_receive([&](std::span<const std::uint8_t> d) { at_b.emplace_back(d.begin(), d.end()); });
    for (std::uint8_t i = 0; i < 20; ++i) {
        const std::uint8_t msg[3] = {i, 0xaa, 0x55};
        ASSERT_FALSE(a->send(msg));
        ASSERT_FALSE(b->send(msg));
    }
    ASSERT_TRUE(run_until(io, [&] { return at_a.size() == 20 && at_b.size() == 20; }));
    EXPECT_EQ(at_b[0], (std::vector<std::uint8_t>{0, 0xaa, 0x55}));
    EXPECT_NE(a->description().find("127.0.0.1:" + std::to_string(b->local_port())),
              std::string::npos);
}

TEST(UdpPath, LatchesOntoWhereTheMediaComesFrom) {
    asio::io_context io;
    std::error_code ec;
    auto a = UdpPath::open(io, "127.0.0.1", ec);
    auto real_peer = UdpPath::open(io, "127.0.0.1", ec);
    ASSERT_TRUE(a && real_peer);
    // The SDP named port 9 (discard), but the peer's media comes from elsewhere (a NAT).
    ASSERT_FALSE(a->set_remote("127.0.0.1", 9));
    ASSERT_FALSE(real_peer->set_remote("127.0.0.1", a->local_port()));
    int got_a = 0, got_peer = 0;
    a->on_receive([&](std::span<const std::uint8_t>) { ++got_a; });
    real_peer->on_receive([&](std::span<const std::uint8_t>) { ++got_peer; });
    const std::uint8_t x[1] = {1};
    ASSERT_FALSE(real_peer->send(x));
    ASSERT_TRUE(run_until(io, [&] { return got_a == 1; }));
    ASSERT_FALSE(a->send(x));  // now answered to the latched source
    ASSERT_TRUE(run_until(io, [&] { return got_peer == 1; }));
}

TEST(UdpPath, ErrorsAreValues) {
    asio::io_context io;
    std::error_code ec;
    EXPECT_FALSE(UdpPath::open(io, "not-an-address", ec));
    EXPECT_EQ(ec, make_error_code(Errc::invalid_address));
    auto p = UdpPath::open(io, "127.0.0.1", ec);
    ASSERT_TRUE(p);
    const std::uint8_t x[1] = {1};
    EXPECT_EQ(p->send(x), make_error_code(Errc::not_connected));
    EXPECT_EQ(p->set_remote("127.0.0.1", 0), make_error_code(Errc::invalid_address));
    p->close();
    EXPECT_EQ(p->send(x), make_error_code(Errc::closed));
}
