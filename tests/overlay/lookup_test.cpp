#include "p2psip/overlay/lookup.hpp"

#include <gtest/gtest.h>

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
         const std::string& aor) {
    bool done = false;
    node.put_signed(aor_key(aor), v, [&](bool) { done = true; }, false);
    ASSERT_TRUE(test::run_until(o.io, [&] { return done; }));
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
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
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
                            99, false, {}}),
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
                            1, false, {}}),
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
