#include "p2psip/nat/error.hpp"

#include <gtest/gtest.h>

#include <system_error>

namespace p2psip::nat {
namespace {

TEST(NatError, CodesUseTheNatCategory) {
    std::error_code ec = Errc::not_connected;  // is_error_code_enum makes this implicit
    EXPECT_EQ(ec.category(), nat_category());
    EXPECT_STREQ(ec.category().name(), "p2psip.nat");
    EXPECT_EQ(ec, make_error_code(Errc::not_connected));
    EXPECT_NE(ec, make_error_code(Errc::closed));
    EXPECT_TRUE(static_cast<bool>(ec));
}

TEST(NatError, EveryCodeHasADistinctMessage) {
    const Errc all[] = {Errc::malformed_candidate,
                        Errc::unsupported_candidate,
                        Errc::invalid_credentials,
                        Errc::invalid_address,
                        Errc::invalid_config,
                        Errc::agent_init_failed,
                        Errc::gather_failed,
                        Errc::invalid_state,
                        Errc::not_connected,
                        Errc::send_failed,
                        Errc::closed};
    for (auto a : all) {
        const auto m = make_error_code(a).message();
        EXPECT_FALSE(m.empty());
        EXPECT_EQ(m.find("unknown"), std::string::npos) << m;
        for (auto b : all) {
            if (a != b) {
                EXPECT_NE(m, make_error_code(b).message());
            }
        }
    }
}

}  // namespace
}  // namespace p2psip::nat
