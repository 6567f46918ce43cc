#include "p2psip/media/error.hpp"

#include <gtest/gtest.h>

namespace p2psip::media {

TEST(MediaError, CategoryAndMessages) {
    const std::error_code ec = errc::srtp_auth_failed;
    EXPECT_TRUE(ec);
    EXPECT_EQ(&ec.category(), &media_category());
    EXPECT_STREQ(ec.category().name(), "p2psip.media");
    EXPECT_EQ(ec.message(), "SRTP authentication failed");
    EXPECT_EQ(ec, errc::srtp_auth_failed);
    EXPECT_NE(ec, errc::srtp_replay);
    EXPECT_FALSE(std::error_code{} == errc::malformed_packet);
    EXPECT_EQ(std::error_code(errc::dtls_fingerprint_mismatch).message(),
              "peer certificate does not match a=fingerprint");
    for (int i = 1; i <= static_cast<int>(errc::dtls_bad_chain); ++i)
        EXPECT_NE(std::error_code(i, media_category()).message(), "unknown media error") << i;
}

}  // namespace p2psip::media
