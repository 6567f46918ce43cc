// Inbox over a real OpenDHT overlay on 127.0.0.1: encrypted, signed SIP carriage.
#include "p2psip/overlay/inbox.hpp"

#include <gtest/gtest.h>

#include "p2psip/overlay/keys.hpp"
#include "p2psip/overlay/record.hpp"
#include "test_overlay.hpp"

namespace p2psip::overlay {
namespace {

using test::Overlay;
using test::run_until;

TEST(Inbox, KeyDependsOnSignerAndInstance) {
    const auto a = dht::InfoHash::get("a"), b = dht::InfoHash::get("b");
    EXPECT_EQ(inbox_key(a, "one"), inbox_key(a, "one"));
    EXPECT_NE(inbox_key(a, "one"), inbox_key(a, "two"));
    EXPECT_NE(inbox_key(a, "one"), inbox_key(b, "one"));
}

TEST(Inbox, DeliversEncryptedSignalWithVerifiedSender) {
    Overlay net(4);
    auto& alice = *net.nodes[1];
    auto& bob = *net.nodes[2];
    auto& eve = *net.nodes[3];  // listens on bob's inbox key too: must not read it
    auto bob_box = Inbox::create(bob, "bob-phone");
    auto alice_box = Inbox::create(alice, "alice-phone");
    std::vector<Signal> got_bob, got_alice;
    ASSERT_FALSE(bob_box->start([&](const Signal& s) { got_bob.push_back(s); }));
    ASSERT_FALSE(alice_box->start([&](const Signal& s) { got_alice.push_back(s); }));
    std::size_t eve_saw = 0, eve_plain = 0;
    eve.listen(bob_box->key(), [&](const DhtAccess::Values& vals) {
        for (auto& v : vals) {
            ++eve_saw;
            if (!v->isEncrypted()) ++eve_plain;
        }
    });

    std::shared_ptr<const dht::crypto::PublicKey> bob_key =
        bob.identity().first->getSharedPublicKey();
    bool stored = false;
    alice_box->send(bob_key, "bob-phone", "198.51.100.7:5060", "INVITE sip:bob@x SIP/2.0\r\n\r\n",
                    [&](bool ok) { stored = ok; });
    ASSERT_TRUE(run_until(net.io, [&] { return !got_bob.empty(); }));
    EXPECT_TRUE(stored || run_until(net.io, [&] { return stored; }));
    ASSERT_EQ(got_bob.size(), 1u);
    EXPECT_EQ(got_bob[0].sip, "INVITE sip:bob@x SIP/2.0\r\n\r\n");
    EXPECT_EQ(got_bob[0].from_contact, "198.51.100.7:5060");
    EXPECT_EQ(got_bob[0].from_instance, "alice-phone");
    ASSERT_TRUE(got_bob[0].sender);
    EXPECT_EQ(got_bob[0].sender->getId(), alice.identity().first->getPublicKey().getId());

    // The reply goes back using only what the signal carried.
    bob_box->send(got_bob[0].sender, got_bob[0].from_instance, "203.0.113.9:5060",
                  "SIP/2.0 180 Ringing\r\n\r\n");
    ASSERT_TRUE(run_until(net.io, [&] { return !got_alice.empty(); }));
    EXPECT_EQ(got_alice[0].sip, "SIP/2.0 180 Ringing\r\n\r\n");
    EXPECT_TRUE(got_bob.size() == 1u);  // alice's own inbox is not bob's

    run_until(net.io, [&] { return eve_saw > 0; }, std::chrono::seconds(5));
    EXPECT_EQ(eve_plain, 0u) << "a third node read the signal in the clear";
    EXPECT_EQ(bob_box->stats().received, 1u);
}

TEST(Inbox, DropsUnsignedAndForeignValues) {
    Overlay net(3);
    auto& bob = *net.nodes[1];
    auto& mallory = *net.nodes[2];
    auto box = Inbox::create(bob, "bob-phone");
    std::size_t delivered = 0;
    ASSERT_FALSE(box->start([&](const Signal&) { ++delivered; }));
    // A plain signed value with the signal type but not encrypted to bob, and garbage.
    auto v = std::make_shared<dht::Value>(reinterpret_cast<const uint8_t*>("junk"), 4);
    v->user_type = std::string(signal_user_type);
    bool done = false;
    mallory.put_signed(box->key(), v, [&](bool) { done = true; }, false);
    ASSERT_TRUE(run_until(net.io, [&] { return done; }));
    ASSERT_TRUE(run_until(net.io, [&] { return box->stats().invalid > 0; },
                          std::chrono::seconds(10)));
    EXPECT_EQ(delivered, 0u);
}

}  // namespace
}  // namespace p2psip::overlay
