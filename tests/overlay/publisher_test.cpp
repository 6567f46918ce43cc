#include "p2psip/overlay/publisher.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <set>

#include "p2psip/overlay/error.hpp"
#include "p2psip/overlay/keys.hpp"
#include "p2psip/overlay/lookup.hpp"
#include "p2psip/overlay/record.hpp"
#include "test_overlay.hpp"

using namespace p2psip::overlay;
using namespace std::chrono_literals;

namespace {
PublishConfig config_for(const std::string& aor, const std::string& contact,
                         std::chrono::seconds ttl = 600s) {
    return PublishConfig{aor, {contact}, std::string(16, 'a'), ttl};
}

std::optional<std::pair<std::error_code, LookupResult>> find(test::Overlay& o, RunnerDht& from,
                                                             const std::string& aor) {
    std::optional<std::pair<std::error_code, LookupResult>> out;
    lookup(from, aor, {},
           [&](std::error_code ec, LookupResult r) { out.emplace(ec, std::move(r)); });
    test::run_until(o.io, [&] { return out.has_value(); });
    return out;
}
// `from` finds `aor` with a binding newer than `seq`: refreshes have landed.
void expect_binding_newer_than(test::Overlay& o, RunnerDht& from, const std::string& aor,
                               std::uint64_t seq) {
    auto r = find(o, from, aor);
    ASSERT_TRUE(r);
    ASSERT_FALSE(r->first) << r->first.message();
    ASSERT_FALSE(r->second.bindings.empty());
    EXPECT_GT(r->second.bindings.at(0).seq, seq);
}
// The p2psip records of `aor` under one replica key, as `from` reads them now.
std::vector<DecodedRecord> records_under(test::Overlay& o, RunnerDht& from, const std::string& aor,
                                         unsigned replica) {
    std::vector<DecodedRecord> out;
    bool done = false;
    from.get(
        aor_key(aor, replica),
        [&](const DhtAccess::Values& values) {
            for (const auto& v : values) {
                DecodedRecord rec;
                if (!decode_record(*v, aor, rec)) out.push_back(std::move(rec));
            }
            return true;
        },
        [&](bool) { done = true; });
    test::run_until(o.io, [&] { return done; });
    return out;
}

// A publisher on `node`, started; nullptr (with a test failure) if starting failed.
std::shared_ptr<BindingPublisher> started(test::Overlay& o, RunnerDht& node, PublishConfig cfg) {
    auto pub = BindingPublisher::create(node, std::move(cfg));
    std::optional<std::error_code> result;
    pub->start([&](std::error_code ec) { result = ec; });
    if (!test::run_until(o.io, [&] { return result.has_value(); }) || *result) {
        ADD_FAILURE() << "publisher did not start: " << (result ? result->message() : "timeout");
        return nullptr;
    }
    return pub;
}

// Reads until `want` holds for what is under the key (a permanent put can land late).
bool eventually_under(test::Overlay& o, RunnerDht& from, const std::string& aor, unsigned replica,
                      const std::function<bool(const std::vector<DecodedRecord>&)>& want) {
    for (int i = 0; i < 30; ++i) {
        if (want(records_under(o, from, aor, replica))) return true;
        const auto t0 = std::chrono::steady_clock::now();
        test::run_until(o.io, [&] { return std::chrono::steady_clock::now() - t0 > 1s; }, 2s);
    }
    return false;
}
}  // namespace

TEST(Publisher, RecordsGoUnderEveryReplicaKey) {
    test::Overlay o(4);
    const std::string aor = "sip:twice@example.org";
    auto pub = BindingPublisher::create(*o.nodes[1], config_for(aor, "sip:t@127.0.0.1:1"));
    ASSERT_EQ(aor_replicas, 2u);
    std::optional<std::error_code> started;
    pub->start([&](std::error_code ec) { started = ec; });
    ASSERT_TRUE(test::run_until(o.io, [&] { return started.has_value(); }));
    ASSERT_FALSE(*started) << started->message();
    const auto me = o.nodes[1]->identity().second->getId();
    auto live_claim_and_binding = [&](const std::vector<DecodedRecord>& recs) {
        bool claim = false, binding = false;
        for (const auto& r : recs) {
            if (r.kind == DecodedRecord::Kind::claim) claim = claim || r.claim.owner == me;
            else binding = binding || r.binding.contacts == std::vector<std::string>{"sip:t@127.0.0.1:1"};
        }
        return claim && binding;
    };
    for (unsigned replica : {0u, 1u})
        EXPECT_TRUE(eventually_under(o, *o.nodes[3], aor, replica, live_claim_and_binding))
            << "replica " << replica;

    // Withdrawn under both: the binding left under each key has no contacts.
    bool withdrawn = false;
    pub->withdraw([&] { withdrawn = true; });
    ASSERT_TRUE(test::run_until(o.io, [&] { return withdrawn; }));
    auto only_withdrawn = [](const std::vector<DecodedRecord>& recs) {
        bool any = false;
        for (const auto& r : recs)
            if (r.kind == DecodedRecord::Kind::binding) {
                if (!r.binding.contacts.empty()) return false;
                any = true;
            }
        return any;
    };
    for (unsigned replica : {0u, 1u})
        EXPECT_TRUE(eventually_under(o, *o.nodes[2], aor, replica, only_withdrawn))
            << "replica " << replica;
}

TEST(Publisher, PublishedBindingIsFoundElsewhere) {
    test::Overlay o(4);
    auto pub = BindingPublisher::create(
        *o.nodes[1], config_for("sip:alice@example.org", "sip:alice@127.0.0.1:5070"));
    std::optional<std::error_code> started;
    pub->start([&](std::error_code ec) { started = ec; });
    ASSERT_TRUE(test::run_until(o.io, [&] { return started.has_value(); }));
    ASSERT_FALSE(*started) << started->message();

    auto r = find(o, *o.nodes[3], "sip:alice@example.org");
    ASSERT_TRUE(r);
    ASSERT_FALSE(r->first) << r->first.message();
    EXPECT_EQ(r->second.owner, o.nodes[1]->identity().second->getId());
    ASSERT_EQ(r->second.bindings.size(), 1u);
    EXPECT_EQ(r->second.bindings[0].contacts[0], "sip:alice@127.0.0.1:5070");
}

TEST(Publisher, RefreshesBeforeExpiry) {
    test::Overlay o(3);
    auto pub = BindingPublisher::create(
        *o.nodes[1], config_for("sip:refresh@example.org", "sip:r@127.0.0.1:1", 2s));
    bool started = false;
    pub->start([&](std::error_code ec) {
        EXPECT_FALSE(ec);
        started = true;
    });
    ASSERT_TRUE(test::run_until(o.io, [&] { return started; }));
    const auto first_seq = pub->seq();
    // ttl 2 s: refreshed every second; after ~3.5 s the record is still live and newer.
    test::run_until(
        o.io, [] { return false; }, 3500ms);
    EXPECT_GE(pub->refreshes(), 3u);
    expect_binding_newer_than(o, *o.nodes[2], "sip:refresh@example.org", first_seq);
}

// Plain puts live on a storage node for the storage lifetime only, whatever the record's
// own: a record of an hour must still be put again within half of that lifetime. With
// permanent puts OpenDHT keeps the copies alive itself, and the hour's rule stands.
TEST(Publisher, PlainPutsAreRefreshedWithinHalfTheStorageLifetime) {
    test::Overlay o(3);
    auto plain = config_for("sip:plain@example.org", "sip:p@127.0.0.1:1", 3600s);
    plain.storage_lifetime = 2s;
    plain.permanent = false;
    auto permanent = config_for("sip:permanent@example.org", "sip:q@127.0.0.1:1", 3600s);
    permanent.storage_lifetime = 2s;
    ASSERT_TRUE(permanent.permanent);  // the default
    auto a = started(o, *o.nodes[1], plain);
    auto b = started(o, *o.nodes[2], permanent);
    ASSERT_TRUE(a && b);
    const auto first_seq = a->seq();
    test::run_until(
        o.io, [] { return false; }, 3500ms);
    EXPECT_GE(a->refreshes(), 3u);  // the first put and at least two 1 s refreshes
    EXPECT_EQ(b->refreshes(), 1u);  // only the first put: its next is 30 minutes away
    expect_binding_newer_than(o, *o.nodes[0], "sip:plain@example.org", first_seq);
}

// Plain puts do not follow the key's closest nodes as the overlay settles after a start:
// the first refreshes come early, each after twice the wait of the one before.
TEST(Publisher, FirstRefreshesComeEarlyAndBackOff) {
    test::Overlay o(3);
    auto cfg = config_for("sip:early@example.org", "sip:e@127.0.0.1:1", 3600s);
    cfg.storage_lifetime = 3600s;  // the regular interval is half an hour
    cfg.first_refresh = 250ms;     // then 500 ms, 1 s, 2 s ...
    cfg.permanent = false;
    auto pub = started(o, *o.nodes[1], cfg);
    ASSERT_TRUE(pub);
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(test::run_until(
        o.io, [&] { return pub->refreshes() >= 4; }, 30s))
        << pub->refreshes() << " rounds";
    // Three refreshes after 250 + 500 + 1000 ms of waiting at least; at a constant 250 ms
    // they would have taken 750 ms.
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 1750ms);
}

TEST(Publisher, RestartedInstanceOutranksItsPreviousRun) {
    test::Overlay o(3);
    const std::string aor = "sip:restart@example.org";
    {
        auto before = BindingPublisher::create(*o.nodes[1], config_for(aor, "sip:old@127.0.0.1:1"));
        bool started = false;
        before->start([&](std::error_code) { started = true; });
        ASSERT_TRUE(test::run_until(o.io, [&] { return started; }));
        // Republishing pushes the old run's counter up before it "crashes".
        before->set_contacts({"sip:old@127.0.0.1:2"});
        before->set_contacts({"sip:old@127.0.0.1:3"});
        test::run_until(
            o.io, [] { return false; }, 300ms);
    }
    // Same instance id, new process: its counter starts from scratch in memory.
    auto after = BindingPublisher::create(*o.nodes[1], config_for(aor, "sip:new@127.0.0.1:4"));
    bool started = false;
    after->start([&](std::error_code ec) {
        EXPECT_FALSE(ec);
        started = true;
    });
    ASSERT_TRUE(test::run_until(o.io, [&] { return started; }));
    auto r = find(o, *o.nodes[2], aor);
    ASSERT_TRUE(r);
    ASSERT_FALSE(r->first) << r->first.message();
    ASSERT_EQ(r->second.bindings.size(), 1u);
    EXPECT_EQ(r->second.bindings[0].contacts[0], "sip:new@127.0.0.1:4");
}

TEST(Publisher, SecondKeyCannotTakeAHeldName) {
    test::Overlay o(3);
    auto alice = BindingPublisher::create(*o.nodes[1],
                                          config_for("sip:held@example.org", "sip:a@127.0.0.1:1"));
    bool started = false;
    alice->start([&](std::error_code ec) {
        EXPECT_FALSE(ec);
        started = true;
    });
    ASSERT_TRUE(test::run_until(o.io, [&] { return started; }));

    auto mallory = BindingPublisher::create(
        *o.nodes[2], config_for("sip:held@example.org", "sip:m@127.0.0.1:2"));
    std::optional<std::error_code> result;
    mallory->start([&](std::error_code ec) { result = ec; });
    ASSERT_TRUE(test::run_until(o.io, [&] { return result.has_value(); }));
    EXPECT_EQ(*result, make_error_code(errc::name_taken));
}

TEST(Publisher, WithdrawRemovesTheInstance) {
    test::Overlay o(3);
    auto pub = BindingPublisher::create(*o.nodes[1],
                                        config_for("sip:gone@example.org", "sip:g@127.0.0.1:1"));
    bool started = false, withdrawn = false;
    pub->start([&](std::error_code) { started = true; });
    ASSERT_TRUE(test::run_until(o.io, [&] { return started; }));
    pub->withdraw([&] { withdrawn = true; });
    ASSERT_TRUE(test::run_until(o.io, [&] { return withdrawn; }));
    auto r = find(o, *o.nodes[2], "sip:gone@example.org");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->first, make_error_code(errc::not_found));
}

TEST(Publisher, OpenDhtSequenceNumbersComeFromTheGivenCounter) {
    test::Overlay o(3);
    const std::string aor = "sip:counter@example.org";
    std::uint16_t counter = 500;  // as a restarted node reads it back from value-seq
    auto cfg = config_for(aor, "sip:c@127.0.0.1:1");
    cfg.next_value_seq = [&counter] { return ++counter; };
    auto pub = started(o, *o.nodes[1], cfg);
    ASSERT_TRUE(pub);
    EXPECT_EQ(counter, 501);  // one number per put round
    // Every copy, under both keys, carries it: storage nodes holding a previous run's
    // copies (numbered up to 500) take these.
    for (unsigned r = 0; r < aor_replicas; ++r) {
        std::vector<std::uint16_t> seqs;
        for (int attempt = 0; attempt < 30 && seqs.size() < 2; ++attempt) {  // may land late
            seqs.clear();
            bool done = false;
            o.nodes[2]->get(
                aor_key(aor, r),
                [&](const DhtAccess::Values& values) {
                    for (const auto& v : values) seqs.push_back(v->seq);
                    return true;
                },
                [&](bool) { done = true; });
            ASSERT_TRUE(test::run_until(o.io, [&] { return done; }));
        }
        ASSERT_EQ(seqs.size(), 2u) << "replica " << r;
        for (auto s : seqs) EXPECT_EQ(s, 501) << "replica " << r;
    }
    bool withdrawn = false;
    pub->withdraw([&] { withdrawn = true; });
    ASSERT_TRUE(test::run_until(o.io, [&] { return withdrawn; }));
    EXPECT_EQ(counter, 502);
}

// A counter behind our own stored copies (its file lost or restored from a backup): the
// look before the first put sees them, and the next round is numbered above them, since
// numbered puts no longer get the key first (protocol.md §3).
TEST(Publisher, OwnCopiesNumberedAboveTheCounterAreOutranked) {
    test::Overlay o(3);
    const std::string aor = "sip:behind@example.org";
    std::uint16_t counter = 600;
    auto cfg = config_for(aor, "sip:old@127.0.0.1:1");
    cfg.replicas = 1;
    cfg.next_value_seq = [&counter] { return ++counter; };
    ASSERT_TRUE(started(o, *o.nodes[1], cfg));  // and gone, its puts left behind
    counter = 100;
    cfg.contacts = {"sip:new@127.0.0.1:2"};
    auto after = started(o, *o.nodes[1], cfg);
    ASSERT_TRUE(after);
    EXPECT_EQ(counter, 101);  // the counter was asked, and overruled
    // Every copy the other node gets, its own storage's included, is the new round's.
    std::multiset<std::uint16_t> seqs;
    std::vector<std::string> contacts;
    for (int attempt = 0; attempt < 30; ++attempt) {
        seqs.clear();
        contacts.clear();
        bool done = false;
        o.nodes[2]->get(
            aor_key(aor),
            [&](const DhtAccess::Values& values) {
                for (const auto& v : values) {
                    seqs.insert(v->seq);
                    DecodedRecord rec;
                    if (!decode_record(*v, aor, rec) && rec.kind == DecodedRecord::Kind::binding)
                        contacts.push_back(rec.binding.contacts.at(0));
                }
                return true;
            },
            [&](bool) { done = true; });
        ASSERT_TRUE(test::run_until(o.io, [&] { return done; }));
        if (seqs == std::multiset<std::uint16_t>{602, 602}) break;
    }
    EXPECT_EQ(seqs, (std::multiset<std::uint16_t>{602, 602}));
    EXPECT_EQ(contacts, std::vector<std::string>{"sip:new@127.0.0.1:2"});
}
