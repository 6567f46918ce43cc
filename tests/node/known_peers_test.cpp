#include "known_peers.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <random>

namespace p2psip::node {
namespace {

std::filesystem::path temp_file() {
    std::random_device rd;
    return std::filesystem::temp_directory_path() /
           ("p2psip-known-" + std::to_string(rd()) + std::to_string(rd()));
}

TEST(KnownPeers, RemembersAcrossInstances) {
    const auto file = temp_file();
    const auto key = dht::InfoHash::get("bob's key");
    {
        KnownPeers peers(file);
        EXPECT_EQ(peers.load(), "");  // no file yet: fine
        EXPECT_FALSE(peers.find("sip:bob@example.org"));
        ASSERT_TRUE(peers.remember("sip:bob@example.org", key));
        EXPECT_EQ(peers.find("sip:bob@example.org"), key);
    }
    KnownPeers again(file);
    EXPECT_EQ(again.load(), "");
    EXPECT_EQ(again.find("sip:bob@example.org"), key);
    EXPECT_EQ(again.size(), 1u);
    std::filesystem::remove(file);
}

TEST(KnownPeers, BadLineIsNamedAndSkipped) {
    const auto file = temp_file();
    const auto key = dht::InfoHash::get("carol's key");
    {
        std::ofstream out(file);
        out << "# comment\n"
            << "sip:carol@example.org " << key.toString() << "\n"
            << "sip:dave@example.org not-a-key\n";
    }
    KnownPeers peers(file);
    const auto problem = peers.load();
    EXPECT_NE(problem.find(file.string() + ":3"), std::string::npos) << problem;
    EXPECT_EQ(peers.find("sip:carol@example.org"), key);
    EXPECT_FALSE(peers.find("sip:dave@example.org"));
    std::filesystem::remove(file);
}

}  // namespace
}  // namespace p2psip::node
