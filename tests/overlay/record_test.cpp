#include "p2psip/overlay/record.hpp"

#include <gtest/gtest.h>

#include "p2psip/overlay/error.hpp"
#include "p2psip/overlay/keys.hpp"
#include "test_overlay.hpp"

using namespace p2psip::overlay;

namespace {
const std::string aor = "sip:alice@example.org";

struct Keys {
    Identity alice = test::make_identity("alice");
    Identity mallory = test::make_identity("mallory");
};
Keys& keys() {
    static Keys k;
    return k;
}

Binding binding_for(const Identity& id) {
    return Binding{
        aor, {"sip:alice@127.0.0.1:5070"}, std::string(16, 'i'), id.dht.second->getId(), 2000000000,
        7, false, {}};
}
}  // namespace

TEST(Record, SignedBindingDecodes) {
    auto v = make_binding_value(binding_for(keys().alice));
    v->sign(*keys().alice.dht.first);
    DecodedRecord rec;
    ASSERT_FALSE(decode_record(*v, aor, rec));
    ASSERT_EQ(rec.kind, DecodedRecord::Kind::binding);
    EXPECT_EQ(rec.binding.contacts, std::vector<std::string>{"sip:alice@127.0.0.1:5070"});
    EXPECT_EQ(rec.binding.seq, 7u);
    EXPECT_EQ(rec.binding.expires, 2000000000u);
    EXPECT_EQ(rec.binding.signer, keys().alice.dht.second->getId());
    EXPECT_EQ(v->id, binding_value_id(aor, std::string(16, 'i')));
}

TEST(Record, SignedClaimDecodes) {
    auto v = make_claim_value(Claim{aor, keys().alice.dht.second->getId(), 100, 2000000000});
    v->sign(*keys().alice.dht.first);
    DecodedRecord rec;
    ASSERT_FALSE(decode_record(*v, aor, rec));
    ASSERT_EQ(rec.kind, DecodedRecord::Kind::claim);
    EXPECT_EQ(rec.claim.created, 100u);
    EXPECT_EQ(v->id, claim_value_id(aor));
}

TEST(Record, UnsignedIsRejected) {
    auto v = make_binding_value(binding_for(keys().alice));
    DecodedRecord rec;
    EXPECT_EQ(decode_record(*v, aor, rec), make_error_code(errc::bad_record));
}

TEST(Record, TamperedDataFailsSignature) {
    auto v = make_binding_value(binding_for(keys().alice));
    v->sign(*keys().alice.dht.first);
    v->data.back() ^= 0x01;
    DecodedRecord rec;
    EXPECT_EQ(decode_record(*v, aor, rec), make_error_code(errc::bad_record));
}

TEST(Record, RecordNamingAnotherSignerIsRejected) {
    // Mallory signs a record that claims to be alice's key.
    auto v = make_binding_value(binding_for(keys().alice));
    v->sign(*keys().mallory.dht.first);
    DecodedRecord rec;
    EXPECT_EQ(decode_record(*v, aor, rec), make_error_code(errc::bad_record));
}

TEST(Record, WrongAorOrValueIdIsRejected) {
    auto v = make_binding_value(binding_for(keys().alice));
    v->sign(*keys().alice.dht.first);
    DecodedRecord rec;
    EXPECT_EQ(decode_record(*v, "sip:bob@example.org", rec), make_error_code(errc::bad_record));

    auto moved = make_claim_value(Claim{aor, keys().alice.dht.second->getId(), 1, 2000000000});
    moved->id = 42;  // a claim must sit at claim_value_id(aor)
    moved->sign(*keys().alice.dht.first);
    EXPECT_EQ(decode_record(*moved, aor, rec), make_error_code(errc::bad_record));
}

TEST(Record, GarbagePayloadIsRejected) {
    auto v = std::make_shared<dht::Value>(dht::Blob{0xff, 0xff, 0xff, 0x01});
    v->user_type = std::string(record_user_type);
    v->sign(*keys().alice.dht.first);
    DecodedRecord rec;
    EXPECT_EQ(decode_record(*v, aor, rec), make_error_code(errc::bad_record));
}
