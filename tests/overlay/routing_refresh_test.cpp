#include "p2psip/overlay/routing_refresh.hpp"

#include <gtest/gtest.h>

#include "p2psip/overlay/runner_dht.hpp"
#include "test_overlay.hpp"

using namespace p2psip::overlay;
using namespace std::chrono_literals;

// Checks that refresh every time, without pinging first (RoutingRefreshOptions::probes 0).
RoutingRefreshOptions every(std::chrono::milliseconds interval) {
    return {interval, 0, kDefaultRoutingRefreshMax};
}

// Real OpenDHT nodes on loopback. `a` refreshes; `b` stays up and answers; `c` is gone.
TEST(RoutingRefresh, EveryContactMustAnswerAgainAndOnlyTheLiveOnesDo) {
    test::Overlay overlay(3);
    auto& a = *overlay.nodes[0];
    ASSERT_TRUE(test::run_until(
        overlay.io, [&] { return a.good_nodes() == 2; }, 60s));
    overlay.nodes[2]->stop();

    RoutingRefresh refresh(a, every(3s));
    refresh.start();
    EXPECT_TRUE(refresh.running());
    // Right after a refresh no contact counts as good, not even b, which never stopped
    // answering: OpenDHT alone would keep both good for ten minutes.
    ASSERT_TRUE(test::run_until(
        overlay.io, [&] { return refresh.refreshes() >= 1 && a.good_nodes() == 0; }, 60s));
    // b answers the checks and is good again; c never is.
    ASSERT_TRUE(test::run_until(
        overlay.io, [&] { return a.good_nodes() == 1; }, 60s));
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < until) {
        test::run_until(
            overlay.io, [] { return false; }, 200ms);
        ASSERT_LE(a.good_nodes(), 1u);
    }
    EXPECT_GE(refresh.refreshes(), 3u);

    refresh.stop();
    EXPECT_FALSE(refresh.running());
    const auto ticks = refresh.refreshes();
    test::run_until(
        overlay.io, [] { return false; }, 7s);
    EXPECT_EQ(refresh.refreshes(), ticks);
}

TEST(RoutingRefresh, ZeroIntervalNeverTicksAndAStoppedDhtNoLonger) {
    test::Overlay overlay(2);
    auto& a = *overlay.nodes[0];
    RoutingRefresh off(a, every(0ms));
    off.start();
    EXPECT_FALSE(off.running());

    RoutingRefresh refresh(a, every(200ms));
    refresh.start();
    ASSERT_TRUE(test::run_until(overlay.io, [&] { return refresh.refreshes() >= 1; }));
    a.stop();
    EXPECT_FALSE(a.refresh_routing());
    const auto ticks = refresh.refreshes();
    test::run_until(
        overlay.io, [] { return false; }, 1s);
    EXPECT_EQ(refresh.refreshes(), ticks);
}

// The default: each check pings a few good contacts and refreshes only when one of them
// does not answer. `a` checks every second; while `b` and `c` answer it never refreshes;
// once `c` is gone, a check pings it, gets no answer, and refreshes.
TEST(RoutingRefresh, RefreshesOnlyOnceAPingedContactIsGone) {
    test::Overlay overlay(3);
    auto& a = *overlay.nodes[0];
    ASSERT_TRUE(test::run_until(
        overlay.io, [&] { return a.good_nodes() == 2; }, 60s));
    RoutingRefresh refresh(a, {1s, kDefaultRoutingProbes, kDefaultRoutingRefreshMax});
    refresh.start();
    ASSERT_TRUE(test::run_until(
        overlay.io, [&] { return refresh.checks() >= 5; }, 60s));
    EXPECT_EQ(refresh.refreshes(), 0u);
    EXPECT_GE(refresh.probes_sent(), 2u * 5);  // both contacts, at every check

    overlay.nodes[2]->stop();
    const auto checks = refresh.checks();
    ASSERT_TRUE(test::run_until(
        overlay.io, [&] { return refresh.refreshes() >= 1; }, 60s));
    // Within a round's deadline of the first check that pinged it, not at once.
    EXPECT_GT(refresh.checks(), checks);
}
