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
