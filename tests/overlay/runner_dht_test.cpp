#include "p2psip/overlay/runner_dht.hpp"

#include <gtest/gtest.h>

#include "p2psip/overlay/error.hpp"
#include "test_overlay.hpp"

using namespace p2psip::overlay;

TEST(HostPort, Parses) {
    std::string h, p;
    ASSERT_FALSE(parse_host_port("127.0.0.1:4222", h, p));
    EXPECT_EQ(h, "127.0.0.1");
    EXPECT_EQ(p, "4222");
    ASSERT_FALSE(parse_host_port("[::1]:5", h, p));
    EXPECT_EQ(h, "::1");
    ASSERT_FALSE(parse_host_port("bootstrap.example:4222", h, p));
    EXPECT_EQ(h, "bootstrap.example");
}

TEST(HostPort, RejectsBadInput) {
    std::string h, p;
    for (auto bad : {"", "host", "host:", ":80", "host:0", "host:70000", "host:8a", "[::1]80"})
        EXPECT_EQ(parse_host_port(bad, h, p), make_error_code(errc::bad_address)) << bad;
}

TEST(RunnerDht, BadBootstrapIsAnError) {
    boost::asio::io_context io;
    RunnerDht node(io, test::make_identity("x"));
    RunnerConfig cfg;
    cfg.bootstrap = {"nonsense"};
    EXPECT_EQ(node.start(cfg), make_error_code(errc::bad_address));
}

TEST(RunnerDht, SignedPutIsVisibleToAnotherNodeAndCallbacksRunOnIoThread) {
    test::Overlay overlay(3);
    const auto key = dht::InfoHash::get("runner-test");
    const auto io_thread = std::this_thread::get_id();
    bool put_done = false, put_ok = false;
    overlay.nodes[1]->put_signed(key, std::make_shared<dht::Value>(dht::Blob{1, 2, 3}),
                                 [&](bool ok) {
                                     EXPECT_EQ(std::this_thread::get_id(), io_thread);
                                     put_done = true;
                                     put_ok = ok;
                                 },
                                 false);
    ASSERT_TRUE(test::run_until(overlay.io, [&] { return put_done; }));
    EXPECT_TRUE(put_ok);

    std::vector<std::shared_ptr<dht::Value>> got;
    bool get_done = false;
    overlay.nodes[2]->get(
        key,
        [&](const DhtAccess::Values& vs) {
            EXPECT_EQ(std::this_thread::get_id(), io_thread);
            got.insert(got.end(), vs.begin(), vs.end());
            return true;
        },
        [&](bool) { get_done = true; });
    ASSERT_TRUE(test::run_until(overlay.io, [&] { return get_done; }));
    ASSERT_FALSE(got.empty());
    EXPECT_TRUE(got[0]->checkSignature());
    EXPECT_EQ(got[0]->owner->getId(), overlay.nodes[1]->identity().second->getId());
}

TEST(RunnerDht, TimersFireAndCancel) {
    boost::asio::io_context io;
    RunnerDht node(io, test::make_identity("t"));
    int fired = 0;
    node.call_after(std::chrono::milliseconds(10), [&] { ++fired; });
    auto id = node.call_after(std::chrono::milliseconds(10), [&] { fired += 100; });
    node.cancel(id);
    io.run_for(std::chrono::milliseconds(200));
    EXPECT_EQ(fired, 1);
}
