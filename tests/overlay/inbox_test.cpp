// Inbox over a real OpenDHT overlay on 127.0.0.1: encrypted, signed SIP carriage.
#include "p2psip/overlay/inbox.hpp"

#include <gtest/gtest.h>

#include "p2psip/overlay/keys.hpp"
#include "test_overlay.hpp"

namespace p2psip::overlay {
namespace {

using test::Overlay;
using test::run_until;

TEST(Inbox, DeliversEncryptedSignalBothWaysUnderOneKey) {
    Overlay net(4);
    auto& alice = *net.nodes[1];
    auto& bob = *net.nodes[2];
    auto& eve = *net.nodes[3];  // listens on the same key: must not read anything
    const auto key = aor_key("sip:bob@example.org");
    auto bob_box = Inbox::create(bob, "bob-phone");
    auto alice_box = Inbox::create(alice, "alice-phone");
    auto eve_box = Inbox::create(eve, "eve-phone");
    std::vector<Signal> got_bob, got_alice, got_eve;
    bob_box->on_signal([&](const Signal& s) { got_bob.push_back(s); });
    alice_box->on_signal([&](const Signal& s) { got_alice.push_back(s); });
    eve_box->on_signal([&](const Signal& s) { got_eve.push_back(s); });
    ASSERT_FALSE(bob_box->listen(key));
    ASSERT_FALSE(alice_box->listen(key));
    ASSERT_FALSE(eve_box->listen(key));
    EXPECT_TRUE(bob_box->listening(key));
    EXPECT_FALSE(bob_box->listen(key));  // idempotent

    std::shared_ptr<const dht::crypto::PublicKey> bob_key =
        bob.identity().first->getSharedPublicKey();
    bool stored = false;
    alice_box->send(key, bob_key, "198.51.100.7:5060", "10.0.0.7:5060",
                    "INVITE sip:bob@x SIP/2.0\r\n\r\n", [&](bool ok) { stored = ok; });
    ASSERT_TRUE(run_until(net.io, [&] { return !got_bob.empty(); }));
    EXPECT_TRUE(stored || run_until(net.io, [&] { return stored; }));
    ASSERT_EQ(got_bob.size(), 1u);
    EXPECT_EQ(got_bob[0].sip, "INVITE sip:bob@x SIP/2.0\r\n\r\n");
    EXPECT_EQ(got_bob[0].key, key);
    EXPECT_EQ(got_bob[0].from_contact, "198.51.100.7:5060");
    EXPECT_EQ(got_bob[0].lan_contact, "10.0.0.7:5060");
    EXPECT_EQ(got_bob[0].from_instance, "alice-phone");
    ASSERT_TRUE(got_bob[0].sender);
    EXPECT_EQ(got_bob[0].sender->getId(), alice.identity().first->getPublicKey().getId());

    // The reply goes back under the same key using only what the signal carried.
    bob_box->send(got_bob[0].key, got_bob[0].sender, "203.0.113.9:5060", "",
                  "SIP/2.0 180 Ringing\r\n\r\n");
    ASSERT_TRUE(run_until(net.io, [&] { return !got_alice.empty(); }));
    EXPECT_EQ(got_alice[0].sip, "SIP/2.0 180 Ringing\r\n\r\n");
    EXPECT_EQ(got_bob.size(), 1u) << "bob must not take alice's reply (encrypted to alice)";
    // Eve listens on the same key but can read neither value (SecureDht does not even
    // hand her values encrypted to others).
    run_until(
        net.io, [] { return false; }, std::chrono::seconds(2));
    EXPECT_TRUE(got_eve.empty());
    EXPECT_EQ(eve_box->stats().received, 0u);
    EXPECT_EQ(bob_box->stats().received, 1u);

    bob_box->unlisten(key);
    EXPECT_FALSE(bob_box->listening(key));
}

TEST(Inbox, DropsValuesThatAreNotSignalsForUs) {
    Overlay net(3);
    auto& bob = *net.nodes[1];
    auto& mallory = *net.nodes[2];
    const auto key = aor_key("sip:bob@example.org");
    auto box = Inbox::create(bob, "bob-phone");
    std::size_t delivered = 0;
    box->on_signal([&](const Signal&) { ++delivered; });
    ASSERT_FALSE(box->listen(key));
    // Signed but not encrypted to bob, with the signal type and garbage inside.
    auto v = std::make_shared<dht::Value>(reinterpret_cast<const uint8_t*>("junk"), 4);
    v->user_type = std::string(signal_user_type);
    bool done = false;
    mallory.put_signed(
        key, v, [&](bool) { done = true; }, false);
    ASSERT_TRUE(run_until(net.io, [&] { return done; }));
    ASSERT_TRUE(run_until(
        net.io, [&] { return box->stats().invalid > 0; }, std::chrono::seconds(10)));
    EXPECT_EQ(delivered, 0u);
}

TEST(Inbox, IgnoresSignalsLeftFromBeforeItListened) {
    Overlay net(3);
    auto& alice = *net.nodes[1];
    auto& bob = *net.nodes[2];
    const auto key = aor_key("sip:bob@example.org");
    auto alice_box = Inbox::create(alice, "alice-phone");
    std::shared_ptr<const dht::crypto::PublicKey> bob_key =
        bob.identity().first->getSharedPublicKey();
    bool stored = false;
    alice_box->send(key, bob_key, "198.51.100.7:5060", "", "OLD", [&](bool ok) { stored = ok; });
    ASSERT_TRUE(run_until(net.io, [&] { return stored; }));
    // Listening starts well after the old signal (more than the allowed skew).
    run_until(
        net.io, [] { return false; }, std::chrono::milliseconds(Inbox::kSkewMs + 1000));
    auto bob_box = Inbox::create(bob, "bob-phone");
    std::vector<std::string> got;
    bob_box->on_signal([&](const Signal& s) { got.push_back(s.sip); });
    ASSERT_FALSE(bob_box->listen(key));
    ASSERT_TRUE(run_until(net.io, [&] { return bob_box->stats().stale > 0; }))
        << "the stored signal should have been delivered by the listen and judged stale";
    alice_box->send(key, bob_key, "198.51.100.7:5060", "", "NEW");
    ASSERT_TRUE(run_until(net.io, [&] { return !got.empty(); }));
    EXPECT_EQ(got, std::vector<std::string>{"NEW"});
}

}  // namespace
}  // namespace p2psip::overlay
