#include "p2psip/overlay/lookup.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "p2psip/overlay/error.hpp"
#include "p2psip/overlay/keys.hpp"
#include "p2psip/overlay/publisher.hpp"
#include "test_overlay.hpp"

using namespace p2psip::overlay;
using namespace std::chrono_literals;

namespace {
std::pair<std::error_code, LookupResult> find(test::Overlay& o, RunnerDht& from,
                                              const std::string& aor, LookupOptions opts = {}) {
    std::optional<std::pair<std::error_code, LookupResult>> out;
    lookup(from, aor, opts,
           [&](std::error_code ec, LookupResult r) { out.emplace(ec, std::move(r)); });
    EXPECT_TRUE(test::run_until(
        o.io, [&] { return out.has_value(); }, 60s));
    return out ? std::move(*out) : std::pair<std::error_code, LookupResult>{};
}

void put(test::Overlay& o, RunnerDht& node, const std::shared_ptr<dht::Value>& v,
         const std::string& aor, unsigned replica = 0) {
    bool done = false;
    node.put_signed(
        aor_key(aor, replica), v, [&](bool) { done = true; }, false);
    ASSERT_TRUE(test::run_until(o.io, [&] { return done; }));
}

// `node`'s claim of `aor` and one binding of `instance`, signed at `signed_at` (unix
// seconds) to expire at `expires`, under replica key `replica`.
void put_records(test::Overlay& o, RunnerDht& node, const std::string& aor,
                 const std::string& instance, const std::string& contact,
                 std::uint64_t signed_at, std::uint64_t expires, unsigned replica) {
    const auto key = node.identity().second->getId();
    put(o, node, make_claim_value({aor, key, signed_at, expires}), aor, replica);
    put(o, node,
        make_binding_value({aor, {contact}, instance, key, expires, signed_at * 1000, false, {}}),
        aor, replica);
}

// Looks `aor` up from `from`: exactly one binding is expected, with `contact`.
LookupResult expect_one(test::Overlay& o, RunnerDht& from, const std::string& aor,
                        const std::string& contact, LookupOptions opts = {}) {
    auto [ec, r] = find(o, from, aor, opts);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(r.bindings.size(), 1u);
    if (!r.bindings.empty()) {
        EXPECT_EQ(r.bindings[0].contacts, std::vector<std::string>{contact});
    }
    return r;
}
}  // namespace

TEST(ChooseOwner, SingleClaimantOrPinnedKeyElseConflict) {
    const auto a = dht::InfoHash::get("a"), b = dht::InfoHash::get("b");
    bool conflict = true;
    EXPECT_EQ(choose_owner({{"x", a, 20, 99}}, std::nullopt, &conflict), a);
    EXPECT_FALSE(conflict);
    EXPECT_EQ(choose_owner({{"x", a, 20, 99}, {"x", b, 10, 99}}, std::nullopt, &conflict),
              std::nullopt);
    EXPECT_TRUE(conflict);
    EXPECT_EQ(choose_owner({{"x", a, 20, 99}, {"x", b, 10, 99}}, a, &conflict), a);
    EXPECT_FALSE(conflict);
    EXPECT_EQ(choose_owner({{"x", b, 10, 99}}, a), std::nullopt);
    EXPECT_EQ(choose_owner({}, std::nullopt), std::nullopt);
}

TEST(Lookup, UnknownAorIsNotFoundBeforeTheTimeout) {
    test::Overlay o(3);
    const auto t0 = std::chrono::steady_clock::now();
    auto [ec, r] = find(o, *o.nodes[1], "sip:nobody@example.org");
    EXPECT_EQ(ec, make_error_code(errc::not_found));
    // Asked three more times before giving up: the replica key at once, then both keys
    // again 1 s later; the last get was the replica key's.
    EXPECT_EQ(r.retries, 3u);
    EXPECT_EQ(r.gets, 4u);
    EXPECT_EQ(r.replica, 1u);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
}

TEST(Lookup, RecordsOnlyUnderTheReplicaKeyAreFoundThere) {
    // What a caller sees when the first key's get misses (under churn: its storage nodes
    // unreached): the records under the second replica key answer.
    test::Overlay o(4);
    const std::string aor = "sip:replica@example.org";
    auto& carol = *o.nodes[1];
    const auto key = carol.identity().second->getId();
    const auto expires = unix_seconds(std::chrono::system_clock::now()) + 600;
    put(o, carol, make_claim_value({aor, key, 1, expires}), aor, 1);
    put(o, carol,
        make_binding_value(
            {aor, {"sip:carol@127.0.0.1:7"}, std::string(16, 'c'), key, expires, 1, false, {}}),
        aor, 1);
    {
        auto [ec, r] = find(o, *o.nodes[3], aor);
        ASSERT_FALSE(ec) << ec.message();
        EXPECT_EQ(r.owner, key);
        ASSERT_EQ(r.bindings.size(), 1u);
        EXPECT_EQ(r.bindings[0].contacts, std::vector<std::string>{"sip:carol@127.0.0.1:7"});
        EXPECT_EQ(r.replica, 1u);
        EXPECT_EQ(r.retries, 1u);  // the first key's get, then the replica's
    }
    // Asking only the first key (one replica, no retries) does not find them.
    LookupOptions first_only;
    first_only.replicas = 1;
    first_only.retries = 0;
    auto [ec, r] = find(o, *o.nodes[3], aor, first_only);
    EXPECT_EQ(ec, make_error_code(errc::not_found));
    EXPECT_EQ(r.replica, 0u);
}

TEST(Lookup, BindingPublishedWhileTheFirstGetRunsIsFoundByARetry) {
    // The first gets (both replica keys) end empty within milliseconds here; the binding
    // lands after them. The retry 1 s later finds it: what a caller sees when a churned
    // search ends early.
    test::Overlay o(4);
    const std::string aor = "sip:late@example.org";
    std::optional<std::pair<std::error_code, LookupResult>> out;
    LookupOptions opts;
    ASSERT_EQ(opts.retries, 3u);
    ASSERT_EQ(opts.replicas, 2u);
    lookup(*o.nodes[2], aor, opts,
           [&](std::error_code ec, LookupResult r) { out.emplace(ec, std::move(r)); });
    const auto t0 = std::chrono::steady_clock::now();
    test::run_until(o.io, [&] { return std::chrono::steady_clock::now() - t0 > 300ms; }, 2s);
    auto pub = BindingPublisher::create(*o.nodes[1],
                                        {aor, {"sip:late@127.0.0.1:1"}, std::string(16, 'l'), 600s});
    pub->start({});
    ASSERT_TRUE(test::run_until(o.io, [&] { return out.has_value(); }, 60s));
    ASSERT_FALSE(out->first) << out->first.message();
    ASSERT_EQ(out->second.bindings.size(), 1u);
    EXPECT_EQ(out->second.bindings[0].contacts,
              std::vector<std::string>{"sip:late@127.0.0.1:1"});

    // Without retries the same lookup of an absent AOR ends after one get.
    LookupOptions once;
    once.retries = 0;
    auto [ec, r] = find(o, *o.nodes[2], "sip:absent@example.org", once);
    EXPECT_EQ(ec, make_error_code(errc::not_found));
    EXPECT_EQ(r.retries, 0u);
}

TEST(Lookup, ForeignBindingsAndClaimsAreNotUsed) {
    test::Overlay o(4);
    const std::string aor = "sip:bob@example.org";
    auto bob = BindingPublisher::create(
        *o.nodes[1], {aor, {"sip:bob@127.0.0.1:5071"}, std::string(16, 'b'), 600s});
    bool started = false;
    bob->start([&](std::error_code ec) {
        EXPECT_FALSE(ec);
        started = true;
    });
    ASSERT_TRUE(test::run_until(o.io, [&] { return started; }));

    // Mallory, a second key, stores a binding for bob's AOR pointing at herself.
    auto& mallory = *o.nodes[2];
    const auto mkey = mallory.identity().second->getId();
    const auto bob_key = o.nodes[1]->identity().second->getId();
    put(o, mallory,
        make_binding_value({aor,
                            {"sip:mallory@127.0.0.1:6666"},
                            std::string(16, 'm'),
                            mkey,
                            unix_seconds(std::chrono::system_clock::now()) + 600,
                            99,
                            false,
                            {}}),
        aor);
    {
        auto [ec, r] = find(o, *o.nodes[3], aor);
        ASSERT_FALSE(ec) << ec.message();
        EXPECT_EQ(r.owner, bob_key);
        ASSERT_EQ(r.bindings.size(), 1u);
        EXPECT_EQ(r.bindings[0].contacts, std::vector<std::string>{"sip:bob@127.0.0.1:5071"});
        EXPECT_GE(r.ignored, 1u);  // mallory's binding was seen and dropped
    }

    // Now she also claims the name, backdated. Honest storage nodes refuse to replace
    // bob's claim, but her own node serves hers: the caller must not pick her.
    put(o, mallory,
        make_claim_value({aor, mkey, 1, unix_seconds(std::chrono::system_clock::now()) + 600}),
        aor);
    {
        auto [ec, r] = find(o, *o.nodes[3], aor);
        if (!ec) {
            EXPECT_EQ(r.owner, bob_key);  // her claim never reached an answering node
        } else {
            EXPECT_EQ(ec, make_error_code(errc::name_conflict));
        }
        for (const auto& b : r.bindings)
            EXPECT_NE(b.contacts, std::vector<std::string>{"sip:mallory@127.0.0.1:6666"});
    }
    {
        LookupOptions pinned;
        pinned.pinned_owner = bob_key;
        auto [ec, r] = find(o, *o.nodes[3], aor, pinned);
        ASSERT_FALSE(ec) << ec.message();
        ASSERT_EQ(r.bindings.size(), 1u);
        EXPECT_EQ(r.bindings[0].contacts, std::vector<std::string>{"sip:bob@127.0.0.1:5071"});
    }
}

TEST(Lookup, BindingWithoutAnyClaimIsNotUsed) {
    test::Overlay o(3);
    const std::string aor = "sip:unclaimed@example.org";
    auto& node = *o.nodes[1];
    put(o, node,
        make_binding_value({aor,
                            {"sip:x@127.0.0.1:1"},
                            std::string(16, 'x'),
                            node.identity().second->getId(),
                            unix_seconds(std::chrono::system_clock::now()) + 600,
                            1,
                            false,
                            {}}),
        aor);
    auto [ec, r] = find(o, *o.nodes[2], aor);
    EXPECT_EQ(ec, make_error_code(errc::not_found));
    EXPECT_GE(r.ignored, 1u);
}

TEST(Lookup, PinnedOwnerOverridesTheClaimRule) {
    test::Overlay o(3);
    const std::string aor = "sip:pinned@example.org";
    auto pub = BindingPublisher::create(*o.nodes[1],
                                        {aor, {"sip:p@127.0.0.1:1"}, std::string(16, 'p'), 600s});
    bool started = false;
    pub->start([&](std::error_code) { started = true; });
    ASSERT_TRUE(test::run_until(o.io, [&] { return started; }));
    LookupOptions opts;
    opts.pinned_owner = dht::InfoHash::get("someone else");
    auto [ec, r] = find(o, *o.nodes[2], aor, opts);
    EXPECT_EQ(ec, make_error_code(errc::not_found));
}

// ---- early finish (LookupOptions::quorum) -------------------------------------------

namespace {
// `n` nodes on network `net`, the first bootstrapping from `via` (if any), the rest from it.
std::vector<std::unique_ptr<RunnerDht>> group(asio::io_context& io, std::uint64_t net,
                                              const std::string& tag, std::size_t n,
                                              std::vector<std::string> via = {}) {
    std::vector<std::unique_ptr<RunnerDht>> out;
    for (std::size_t i = 0; i < n; ++i) {
        auto node = std::make_unique<RunnerDht>(io, test::make_identity(tag + std::to_string(i)));
        RunnerConfig cfg;
        cfg.network_id = net;
        cfg.bootstrap =
            i == 0 ? via
                   : std::vector<std::string>{"127.0.0.1:" + std::to_string(out[0]->bound_port())};
        EXPECT_FALSE(node->start(cfg));
        out.push_back(std::move(node));
    }
    return out;
}

void publish(asio::io_context& io, std::shared_ptr<BindingPublisher>& pub, RunnerDht& node,
             const std::string& aor, const std::string& contact, char tag) {
    pub = BindingPublisher::create(node, {aor, {contact}, std::string(16, tag), 600s});
    std::optional<std::error_code> result;
    pub->start([&](std::error_code ec) { result = ec; });
    ASSERT_TRUE(test::run_until(
        io, [&] { return result.has_value(); }, 60s));
    ASSERT_FALSE(*result) << result->message();
}
}  // namespace

TEST(Lookup, QuorumEndsBeforeDeadStorageNodesTimeOut) {
    test::Overlay o(11);
    const std::string aor = "sip:quorum@example.org";
    std::shared_ptr<BindingPublisher> pub;
    publish(o.io, pub, *o.nodes[1], aor, "sip:q@127.0.0.1:1", 'q');
    RunnerDht& caller = *o.nodes[2];
    // Stop the two storage nodes closest to the key (neither the publisher nor the
    // caller): the caller still lists them, so OpenDHT's get waits until they time out.
    const auto key = aor_key(aor);
    std::vector<std::size_t> order;
    for (std::size_t i = 3; i < o.nodes.size(); ++i) order.push_back(i);
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return key.xorCmp(o.nodes[a]->node_id(), o.nodes[b]->node_id()) < 0;
    });
    o.nodes[order[0]]->stop();
    o.nodes[order[1]]->stop();

    LookupOptions quorum;  // the default: 5 of the 8 closest
    ASSERT_EQ(quorum.quorum, 5u);
    auto [ec, r] = find(o, caller, aor, quorum);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_EQ(r.bindings.size(), 1u);
    EXPECT_TRUE(r.early);  // ended by the rule, not by the get (which waits for the dead)
    EXPECT_EQ(r.progress.closest, 8u);
    EXPECT_GE(r.progress.answered, 5u);
    EXPECT_GE(r.first_complete.count(), 0);

    LookupOptions full;
    full.quorum = 0;  // the old rule: every one of the closest answered or timed out
    auto [ec2, r2] = find(o, caller, aor, full);
    ASSERT_FALSE(ec2) << ec2.message();
    ASSERT_EQ(r2.bindings.size(), 1u);
    EXPECT_FALSE(r2.early);
    EXPECT_EQ(r2.progress.closest, 0u);  // never asked
}

TEST(Lookup, SecondClaimAmongTheQuorumIsAConflict) {
    // Two overlays that grew apart: in one mallory claimed the AOR first, in the other bob
    // did, so each half's storage nodes hold (and keep, by the edit policy) a different
    // claim. Then a bridge node joins both. The caller is one of mallory's storage nodes:
    // her claim and binding are in its own store, so they are in hand before any answer
    // (a lookup that stopped at the first claim and binding would call her). The 8 nodes
    // it can find are 3 of mallory's, the bridge (no values) and 4 of bob's: any 5 answers
    // include one of bob's, so the quorum rule must still give name_conflict.
    asio::io_context io;
    std::random_device rd;
    const std::uint64_t net = (static_cast<std::uint64_t>(rd()) << 16) | 9;
    auto a = group(io, net, "a", 4);
    auto b = group(io, net, "b", 4);
    const std::string aor = "sip:contested@example.org";
    ASSERT_TRUE(test::run_until(io, [&] {
        for (auto* g : {&a, &b})
            for (auto& n : *g)
                if (n->good_nodes() < 3) return false;
        return true;
    }));
    std::shared_ptr<BindingPublisher> mallory, bob;
    publish(io, mallory, *a[1], aor, "sip:mallory@127.0.0.1:6666", 'm');
    publish(io, bob, *b[1], aor, "sip:bob@127.0.0.1:5071", 'b');
    // The bridge bootstraps from every node of both halves and pings each of them at once.
    // On a loaded machine DhtRunner drops replies it gets too late (older than 650 ms), and
    // OpenDHT does not ask a node that expired that way again for minutes: a bridge that
    // has not reached all eight in 40 s is replaced by a fresh one (with another id).
    std::vector<std::string> both;
    for (auto* g : {&a, &b})
        for (auto& n : *g) both.push_back("127.0.0.1:" + std::to_string(n->bound_port()));
    std::vector<std::unique_ptr<RunnerDht>> bridge;
    for (int attempt = 0; attempt < 6; ++attempt) {
        bridge = group(io, net, "d" + std::to_string(attempt) + "-", 1, both);
        if (test::run_until(io, [&] { return bridge[0]->good_nodes() >= 8; }, 40s)) break;
    }
    ASSERT_GE(bridge[0]->good_nodes(), 8u);
    RunnerDht& caller = *a[0];

    auto run = [&](LookupOptions opts) {
        std::optional<std::pair<std::error_code, LookupResult>> out;
        lookup(caller, aor, opts,
               [&](std::error_code ec, LookupResult r) { out.emplace(ec, std::move(r)); });
        EXPECT_TRUE(test::run_until(
            io, [&] { return out.has_value(); }, 60s));
        return out ? std::move(*out) : std::pair<std::error_code, LookupResult>{};
    };
    {
        auto [ec, r] = run({});
        EXPECT_EQ(ec, make_error_code(errc::name_conflict)) << ec.message();
        EXPECT_TRUE(r.bindings.empty());
        EXPECT_GE(r.first_complete.count(), 0);  // mallory's pair was in hand
    }
    {
        LookupOptions full;
        full.quorum = 0;
        auto [ec, r] = run(full);
        EXPECT_EQ(ec, make_error_code(errc::name_conflict)) << ec.message();
    }
    {
        LookupOptions pinned;
        pinned.pinned_owner = b[1]->identity().second->getId();
        auto [ec, r] = run(pinned);
        ASSERT_FALSE(ec) << ec.message();
        ASSERT_EQ(r.bindings.size(), 1u);
        EXPECT_EQ(r.bindings[0].contacts, std::vector<std::string>{"sip:bob@127.0.0.1:5071"});
    }
}

TEST(Lookup, BindingPastHalfItsLifetimeIsAskedAgainElsewhere) {
    // A binding that missed its holder's half-life refresh (crashed, or its fresh copy went
    // to other storage nodes) is not taken as the answer while another key may hold a
    // newer one; it is still the answer when nothing newer turns up.
    test::Overlay o(4);
    const std::string aor = "sip:moved@example.org";
    auto& dave = *o.nodes[1];
    const std::string instance(16, 'd');
    const auto now = unix_seconds(std::chrono::system_clock::now());
    // Under the first key: signed 400 s ago for 600 s, so due for refresh 100 s ago.
    put_records(o, dave, aor, instance, "sip:dave@127.0.0.1:1", now - 400, now + 200, 0);
    // Under the replica key: the same instance, signed now.
    put_records(o, dave, aor, instance, "sip:dave@127.0.0.1:2", now, now + 600, 1);
    EXPECT_EQ(expect_one(o, *o.nodes[3], aor, "sip:dave@127.0.0.1:2").replica, 1u);
    // Only the first key asked: the old binding, still live, is the best there is.
    LookupOptions first_only;
    first_only.replicas = 1;
    const auto r = expect_one(o, *o.nodes[2], aor, "sip:dave@127.0.0.1:1", first_only);
    EXPECT_EQ(r.retries, first_only.retries);  // asked again each time, in vain
}

TEST(Lookup, KeysAskedTogetherGiveTheNewestCopyOfEither) {
    // A restarted phone's new binding reached the replica key's storage nodes while the
    // first key's still serve its previous one, fresh (signed 100 s ago for 600 s). One
    // key after the other stops at the first key's answer; both at once see both copies
    // and take the newer.
    test::Overlay o(4);
    const std::string aor = "sip:restarted@example.org";
    auto& erin = *o.nodes[1];
    const std::string instance(16, 'e');
    const auto now = unix_seconds(std::chrono::system_clock::now());
    put_records(o, erin, aor, instance, "sip:erin@127.0.0.1:1", now - 100, now + 500, 0);
    put_records(o, erin, aor, instance, "sip:erin@127.0.0.1:2", now, now + 600, 1);
    const auto one_by_one = expect_one(o, *o.nodes[3], aor, "sip:erin@127.0.0.1:1");
    EXPECT_EQ(one_by_one.replica, 0u);
    EXPECT_EQ(one_by_one.retries, 0u);
    EXPECT_EQ(one_by_one.gets, 1u);
    LookupOptions together;
    together.replicas_together = true;
    const auto r = expect_one(o, *o.nodes[2], aor, "sip:erin@127.0.0.1:2", together);
    EXPECT_EQ(r.replica, 1u);  // the key that brought it
    EXPECT_EQ(r.retries, 0u);
    EXPECT_EQ(r.gets, 2u);  // both keys, in one round
}

TEST(Lookup, KeysAskedTogetherRetryAsRounds) {
    // Nothing under either key: every round asks both, `retries` rounds after the first,
    // and the lookup still ends with not_found well before its timeout.
    test::Overlay o(4);
    LookupOptions together;
    together.replicas_together = true;
    together.retries = 2;
    together.retry_delay = 100ms;
    auto [ec, r] = find(o, *o.nodes[3], "sip:nobody@example.org", together);
    EXPECT_EQ(ec, make_error_code(errc::not_found));
    EXPECT_EQ(r.retries, 2u);
    EXPECT_EQ(r.gets, 6u);  // three rounds of two
    EXPECT_LT(r.elapsed, together.timeout);
}
