#include "p2psip/overlay/identity.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "p2psip/overlay/error.hpp"
#include "test_overlay.hpp"

using namespace p2psip::overlay;
namespace fs = std::filesystem;

TEST(Identity, CreatedOnceWithPrivatePermissionsThenReused) {
    const test::TempDir tmp("identity");
    const auto dir = tmp.path / "data";
    Identity first;
    ASSERT_FALSE(load_or_create_identity(dir, "alice", first));
    EXPECT_TRUE(first.created);
    ASSERT_TRUE(first.dht.first && first.dht.second);

    for (const char* name : {"identity.key", "identity.crt"}) {
        struct stat st {};
        ASSERT_EQ(::stat((dir / name).c_str(), &st), 0) << name;
        EXPECT_EQ(st.st_mode & 0777, 0600u) << name;
    }
    struct stat dst {};
    ASSERT_EQ(::stat(dir.c_str(), &dst), 0);
    EXPECT_EQ(dst.st_mode & 0777, 0700u);

    Identity second;
    ASSERT_FALSE(load_or_create_identity(dir, "alice", second));
    EXPECT_FALSE(second.created);
    EXPECT_EQ(second.dht.second->getId(), first.dht.second->getId());
    // The reloaded key signs what the certificate verifies.
    const auto sig = second.dht.first->sign(std::string_view("hello"));
    EXPECT_TRUE(
        first.dht.second->getPublicKey().checkSignature(dht::Blob{'h', 'e', 'l', 'l', 'o'}, sig));
}

TEST(Identity, KeyIsRsa3072) {
    const test::TempDir tmp("identity-size");
    const auto dir = tmp.path;
    Identity id;
    ASSERT_FALSE(load_or_create_identity(dir, "bob", id));
    // An RSA-3072 PKCS#1 v1.5 signature is 384 bytes.
    EXPECT_EQ(id.dht.first->sign(std::string_view("x")).size(), 384u);
}

TEST(Identity, HalfPresentPairIsAnErrorNotReplaced) {
    const test::TempDir tmp("identity-half");
    const auto dir = tmp.path;
    Identity id;
    ASSERT_FALSE(load_or_create_identity(dir, "carol", id));
    fs::remove(dir / "identity.crt");
    Identity again;
    EXPECT_EQ(load_or_create_identity(dir, "carol", again),
              make_error_code(errc::identity_invalid));
    EXPECT_TRUE(fs::exists(dir / "identity.key"));  // the key is kept
}

TEST(Identity, GarbageKeyIsInvalid) {
    const test::TempDir tmp("identity-garbage");
    const auto dir = tmp.path;
    std::ofstream(dir / "identity.key") << "not a key";
    std::ofstream(dir / "identity.crt") << "not a cert";
    Identity id;
    EXPECT_EQ(load_or_create_identity(dir, "dave", id), make_error_code(errc::identity_invalid));
}

TEST(Identity, InstanceIdStable) {
    const test::TempDir tmp("instance");
    const auto dir = tmp.path;
    std::string a, b;
    ASSERT_FALSE(load_or_create_instance_id(dir, a));
    ASSERT_FALSE(load_or_create_instance_id(dir, b));
    EXPECT_EQ(a.size(), 16u);
    EXPECT_EQ(a, b);
}

TEST(Identity, DhtNodeIdCreatedOnceThenKept) {
    const test::TempDir tmp("dht-node-id");
    const auto dir = tmp.path / "data";
    dht::InfoHash a, b;
    ASSERT_FALSE(load_or_create_dht_node_id(dir, a));
    EXPECT_TRUE(a);
    ASSERT_FALSE(load_or_create_dht_node_id(dir, b));
    EXPECT_EQ(a, b);
    std::ifstream in(dir / "dht-node-id");
    std::string text;
    std::getline(in, text);
    EXPECT_EQ(text, a.toString());
    struct stat st {};
    ASSERT_EQ(::stat((dir / "dht-node-id").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);

    const test::TempDir other("dht-node-id-other");  // another installation draws its own
    dht::InfoHash c;
    ASSERT_FALSE(load_or_create_dht_node_id(other.path, c));
    EXPECT_NE(a, c);
}

TEST(Identity, BadDhtNodeIdIsInvalidAndKept) {
    const test::TempDir tmp("dht-node-id-bad");
    const auto dir = tmp.path;
    for (const char* text : {"", "xyz\n", "0123\n", "0000000000000000000000000000000000000000\n",
                             "ABCDEF0123456789ABCDEF0123456789ABCDEF01\n",
                             "abcdef0123456789abcdef0123456789abcdef01ff\n"}) {
        std::ofstream(dir / "dht-node-id", std::ios::trunc) << text;
        dht::InfoHash id;
        EXPECT_EQ(load_or_create_dht_node_id(dir, id), make_error_code(errc::identity_invalid))
            << "'" << text << "'";
        std::ifstream in(dir / "dht-node-id");
        const std::string kept((std::istreambuf_iterator<char>(in)), {});
        EXPECT_EQ(kept, text);  // never silently replaced
    }
}

TEST(Identity, ValueSeqMissingIsZeroThenRoundTrips) {
    const test::TempDir tmp("value-seq");
    const auto dir = tmp.path / "data";
    std::uint16_t seq = 7;
    ASSERT_FALSE(load_value_seq(dir, seq));
    EXPECT_EQ(seq, 0);
    ASSERT_FALSE(store_value_seq(dir, 41));
    ASSERT_FALSE(store_value_seq(dir, 42));  // replaces the file
    ASSERT_FALSE(load_value_seq(dir, seq));
    EXPECT_EQ(seq, 42);
    ASSERT_FALSE(store_value_seq(dir, 65535));
    ASSERT_FALSE(load_value_seq(dir, seq));
    EXPECT_EQ(seq, 65535);
    struct stat st {};
    ASSERT_EQ(::stat((dir / "value-seq").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_FALSE(fs::exists(dir / "value-seq.tmp"));
}

TEST(Identity, BadValueSeqIsInvalid) {
    const test::TempDir tmp("value-seq-bad");
    const auto dir = tmp.path;
    for (const char* text : {"", "x12\n", "70000\n", "-1\n", "12 13\n"}) {
        std::ofstream(dir / "value-seq", std::ios::trunc) << text;
        std::uint16_t seq = 0;
        EXPECT_EQ(load_value_seq(dir, seq), make_error_code(errc::identity_invalid))
            << "'" << text << "'";
    }
}
