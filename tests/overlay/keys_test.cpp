#include "p2psip/overlay/keys.hpp"

#include <gtest/gtest.h>

using namespace p2psip::overlay;

TEST(Keys, AorKeyIsSha1OfPrefixedCanonicalAor) {
    EXPECT_EQ(aor_key("sip:alice@example.org"),
              dht::InfoHash::get("p2psip:aor:sip:alice@example.org"));
    EXPECT_NE(aor_key("sip:alice@example.org"), aor_key("sip:bob@example.org"));
}

TEST(Keys, ReplicaKeysAreSha1OfNumberedPrefix) {
    EXPECT_EQ(aor_key("sip:alice@example.org", 0), aor_key("sip:alice@example.org"));
    EXPECT_EQ(aor_key("sip:alice@example.org", 1),
              dht::InfoHash::get("p2psip:aor/1:sip:alice@example.org"));
    EXPECT_NE(aor_key("sip:alice@example.org", 1), aor_key("sip:alice@example.org", 2));
    EXPECT_NE(aor_key("sip:alice@example.org", 1), aor_key("sip:bob@example.org", 1));
}

TEST(Keys, ValueIdsAreStableAndDistinct) {
    const auto claim = claim_value_id("sip:alice@example.org");
    EXPECT_EQ(claim, claim_value_id("sip:alice@example.org"));
    EXPECT_NE(claim, 0u);
    EXPECT_NE(claim, claim_value_id("sip:bob@example.org"));
    EXPECT_NE(binding_value_id("sip:alice@example.org", "AAAA"),
              binding_value_id("sip:alice@example.org", "BBBB"));
    EXPECT_NE(claim, binding_value_id("sip:alice@example.org", "AAAA"));
    // Big-endian first 8 bytes of SHA-1, documented in docs/protocol.md.
    const auto h = dht::InfoHash::get("p2psip:claim:sip:alice@example.org");
    std::uint64_t expect = 0;
    for (int i = 0; i < 8; ++i) expect = (expect << 8) | h[i];
    EXPECT_EQ(claim, expect);
}
