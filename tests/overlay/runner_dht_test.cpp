#include "p2psip/overlay/runner_dht.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <thread>

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

namespace {
// The sequence numbers of the copies of value `id` under `key` that `from` gets now
// (its own storage first, then the other nodes').
std::set<std::uint16_t> copies_seen(test::Overlay& o, RunnerDht& from, const dht::InfoHash& key,
                                    dht::Value::Id id) {
    std::set<std::uint16_t> out;
    bool done = false;
    from.get(
        key,
        [&](const DhtAccess::Values& vs) {
            for (const auto& v : vs) {
                EXPECT_TRUE(v->checkSignature());
                if (v->id == id) out.insert(v->seq);
            }
            return true;
        },
        [&](bool) { done = true; });
    EXPECT_TRUE(test::run_until(o.io, [&] { return done; }));
    return out;
}

bool put_numbered(test::Overlay& o, RunnerDht& node, const dht::InfoHash& key, std::uint16_t seq) {
    auto v = std::make_shared<dht::Value>(dht::Blob{static_cast<std::uint8_t>(seq)});
    v->id = 42;
    v->seq = seq;
    const auto io_thread = std::this_thread::get_id();
    std::optional<bool> ok;
    node.put_numbered(
        key, v,
        [&](bool r) {
            EXPECT_EQ(std::this_thread::get_id(), io_thread);
            ok = r;
        },
        false);
    return test::run_until(o.io, [&] { return ok.has_value(); }) && *ok;
}
}  // namespace

// No get before the put: a number below the stored copies' is not raised above them, as
// put_signed would, so the other storage nodes keep what they hold (the author's own
// storage takes any number: OpenDHT stores local puts as they are). A higher one replaces.
TEST(RunnerDht, NumberedPutGoesOutWithTheNumberItCarries) {
    test::Overlay overlay(3);
    auto& author = *overlay.nodes[1];
    auto& reader = *overlay.nodes[2];
    const auto key = dht::InfoHash::get("runner-numbered");
    ASSERT_TRUE(put_numbered(overlay, author, key, 7));
    EXPECT_EQ(copies_seen(overlay, reader, key, 42), std::set<std::uint16_t>{7});

    put_numbered(overlay, author, key, 3);
    EXPECT_TRUE(copies_seen(overlay, reader, key, 42).count(7));

    ASSERT_TRUE(put_numbered(overlay, author, key, 8));
    std::set<std::uint16_t> seen;
    for (int i = 0; i < 20 && seen != std::set<std::uint16_t>{8}; ++i)  // may land late
        seen = copies_seen(overlay, reader, key, 42);
    EXPECT_EQ(seen, std::set<std::uint16_t>{8});
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

TEST(RunnerDht, RunsUnderTheConfiguredNodeIdAndDrawsOneWithout) {
    test::Overlay overlay(2);  // a lone node never counts a contact good
    const auto wanted = dht::InfoHash::get("a node id kept across restarts");
    for (int run = 0; run < 2; ++run) {  // the same id again after a restart
        RunnerDht node(overlay.io, test::make_identity("kept"));
        RunnerConfig cfg;
        cfg.network_id = overlay.network_id;
        cfg.node_id = wanted;
        cfg.bootstrap = {"127.0.0.1:" + std::to_string(overlay.nodes[0]->bound_port())};
        ASSERT_FALSE(node.start(cfg));
        EXPECT_EQ(node.node_id(), wanted);
        EXPECT_TRUE(test::run_until(overlay.io, [&] { return node.good_nodes() > 0; }));
    }
    RunnerDht drawn(overlay.io, test::make_identity("drawn"));
    RunnerConfig cfg;
    cfg.network_id = overlay.network_id;
    ASSERT_FALSE(drawn.start(cfg));
    EXPECT_TRUE(drawn.node_id());
    EXPECT_NE(drawn.node_id(), wanted);
}
