#include "node_config.hpp"
#include "options.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace p2psip::node {
namespace {

class NodeConfigTest : public ::testing::Test {
  protected:
    std::filesystem::path write(const std::string& text) {
        auto p = dir_ / "node.toml";
        std::ofstream(p) << text;
        return p;
    }
    void SetUp() override {
        char tmpl[] = "/tmp/p2psip-node-config-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::filesystem::path dir_;
};

TEST_F(NodeConfigTest, ReadsGatewayAndAccounts) {
    GatewayOptions g;
    const auto p = write(R"([gateway]
listen = "192.168.1.10:5070"
realm = "home"
max_failures = 3
phone_srtp = false

[[account]]
aor = "sip:Alice@Example.org"
password = "s3cret"

[[account]]
aor = "bob@example.org"
username = "bobby"
password = "pw"
)");
    ASSERT_EQ(load_node_config(p, g), "");
    EXPECT_EQ(g.listen, "192.168.1.10:5070");
    EXPECT_EQ(g.realm, "home");
    EXPECT_EQ(g.max_failures, 3u);
    EXPECT_FALSE(g.phone_srtp);
    ASSERT_EQ(g.accounts.size(), 2u);
    EXPECT_EQ(g.accounts[0].aor, "sip:Alice@example.org");  // host lower-cased, user kept
    EXPECT_EQ(g.accounts[0].username, "Alice");             // default: the AOR's user
    EXPECT_EQ(g.accounts[1].aor, "sip:bob@example.org");
    EXPECT_EQ(g.accounts[1].username, "bobby");
}

TEST_F(NodeConfigTest, ErrorsNameFileLineAndKey) {
    GatewayOptions g;
    auto p = write("[gateway]\nlisten = \"192.168.1.10:5070\"\nrelm = \"x\"\n");
    EXPECT_EQ(load_node_config(p, g), p.string() + ":3: key 'gateway.relm': unknown key");

    g = {};
    p = write("[[account]]\naor = \"sip:a@example.org\"\n\n[[account]]\naor = \"sip:b@x\"\n");
    auto why = load_node_config(p, g);
    EXPECT_NE(why.find(p.string() + ":1: key 'account.password'"), std::string::npos) << why;

    g = {};
    p = write("[gateway]\nlisten = \"0.0.0.0\"\n");
    why = load_node_config(p, g);
    EXPECT_NE(why.find(":2: key 'gateway.listen': expected IP:PORT"), std::string::npos) << why;

    g = {};
    p = write("[gateway]\nmax_failures = \"five\"\n");
    why = load_node_config(p, g);
    EXPECT_NE(why.find(":2: key 'gateway.max_failures': expected a whole number"),
              std::string::npos)
        << why;

    g = {};
    p = write("[[account]]\naor = \"not a uri\"\npassword = \"x\"\n");
    why = load_node_config(p, g);
    EXPECT_NE(why.find("key 'account.aor'"), std::string::npos) << why;

    g = {};
    p = write(
        "[[account]]\naor = \"sip:a@x\"\npassword = \"1\"\n[[account]]\naor = \"sip:a@X\"\n"
        "password = \"2\"\n");
    why = load_node_config(p, g);
    EXPECT_NE(why.find("listed twice"), std::string::npos) << why;

    g = {};
    p = write("[gateway\n");
    why = load_node_config(p, g);
    EXPECT_EQ(why.rfind(p.string() + ":1:", 0), 0u) << why;

    g = {};
    p = write("users = 3\n");
    why = load_node_config(p, g);
    EXPECT_NE(why.find(":1: key 'users': unknown key"), std::string::npos) << why;
}

TEST(DefaultRegistrarAddress, NeverAWildcardNorAPublicAddress) {
    EXPECT_EQ(default_registrar_address("192.168.7.1"), "192.168.7.1");
    EXPECT_EQ(default_registrar_address("10.1.2.3"), "10.1.2.3");
    EXPECT_EQ(default_registrar_address("127.0.0.1"), "127.0.0.1");
    for (const char* bind : {"0.0.0.0", "198.51.100.7"}) {
        const auto a = default_registrar_address(bind);
        EXPECT_NE(a, bind);
        EXPECT_FALSE(a.empty());
        in_addr got{};
        ASSERT_EQ(::inet_pton(AF_INET, a.c_str(), &got), 1) << a;
        const auto h = ntohl(got.s_addr);
        EXPECT_TRUE((h >> 24) == 10 || (h >> 20) == 0xAC1 || (h >> 16) == 0xC0A8 ||
                    (h >> 24) == 127)
            << a;
    }
}

}  // namespace
}  // namespace p2psip::node

namespace p2psip::node {
namespace {

TEST_F(NodeConfigTest, AnAccountCannotBeTheNodesOwnAor) {
    PhoneOptions o;
    o.user = "alice@Example.org";
    o.data_dir = dir_;
    o.config = write("[[account]]\naor = \"sip:alice@example.org\"\npassword = \"x\"\n");
    const auto why = finalize(o);
    EXPECT_NE(why.find("own --user"), std::string::npos) << why;
    o.user = "sip:gw@example.org";
    o.gateway = {};
    EXPECT_EQ(finalize(o), "");
    ASSERT_EQ(o.gateway.accounts.size(), 1u);
}

}  // namespace
}  // namespace p2psip::node
