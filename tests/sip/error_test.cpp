#include "p2psip/sip/error.hpp"

#include <gtest/gtest.h>

using namespace p2psip::sip;

TEST(SipError, CategoryAndMessages) {
    std::error_code ec = Errc::missing_call_id;
    EXPECT_EQ(&ec.category(), &sip_category());
    EXPECT_STREQ(ec.category().name(), "p2psip.sip");
    EXPECT_EQ(ec.message(), "Missing Call-ID header");
    EXPECT_TRUE(ec);
    EXPECT_EQ(ec, Errc::missing_call_id);
    EXPECT_NE(ec, Errc::missing_cseq);
    EXPECT_EQ(std::error_code(Errc::unsupported_version).message(), "Version Not Supported");
}

TEST(SipError, EveryCodeHasAMessage) {
    for (int i = static_cast<int>(Errc::bad_uri); i <= static_cast<int>(Errc::bad_digest); ++i) {
        std::error_code ec = make_error_code(static_cast<Errc>(i));
        EXPECT_NE(ec.message(), "Unknown SIP error") << i;
    }
}
