#include "p2psip/media/dtmf.hpp"

#include <gtest/gtest.h>

#include <array>

#include "p2psip/media/error.hpp"

namespace p2psip::media {

TEST(Dtmf, DigitCodes) {
    // RFC 4733 §3.2 Table 7.
    EXPECT_EQ(dtmf_event_code('0'), 0);
    EXPECT_EQ(dtmf_event_code('9'), 9);
    EXPECT_EQ(dtmf_event_code('*'), 10);
    EXPECT_EQ(dtmf_event_code('#'), 11);
    EXPECT_EQ(dtmf_event_code('A'), 12);
    EXPECT_EQ(dtmf_event_code('d'), 15);
    EXPECT_FALSE(dtmf_event_code('E'));
    EXPECT_FALSE(dtmf_event_code(' '));
    for (uint8_t e = 0; e < 16; ++e) {
        const auto d = dtmf_digit(e);
        ASSERT_TRUE(d);
        EXPECT_EQ(dtmf_event_code(*d), e);
    }
    EXPECT_FALSE(dtmf_digit(16));  // flash and other non-DTMF events
}

TEST(Dtmf, PayloadRoundTrip) {
    std::array<uint8_t, 4> buf{};
    size_t n = 0;
    const TelephoneEvent e{.event = 11, .end = true, .volume = 10, .duration = 0x1234};
    ASSERT_FALSE(write_telephone_event(e, buf, n));
    EXPECT_EQ(n, 4u);
    // RFC 4733 §2.3 layout: event | E R volume | duration.
    EXPECT_EQ(buf, (std::array<uint8_t, 4>{11, 0x80 | 10, 0x12, 0x34}));
    TelephoneEvent back;
    ASSERT_FALSE(parse_telephone_event(buf, back));
    EXPECT_EQ(back.event, 11);
    EXPECT_TRUE(back.end);
    EXPECT_EQ(back.volume, 10);
    EXPECT_EQ(back.duration, 0x1234);

    buf[1] = 0x40 | 5;  // the R bit is ignored on receipt
    ASSERT_FALSE(parse_telephone_event(buf, back));
    EXPECT_FALSE(back.end);
    EXPECT_EQ(back.volume, 5);

    EXPECT_EQ(parse_telephone_event(std::span(buf).first(3), back), errc::malformed_packet);
    EXPECT_EQ(write_telephone_event(TelephoneEvent{.volume = 64}, buf, n), errc::invalid_argument);
    EXPECT_EQ(write_telephone_event(e, std::span(buf).first(2), n), errc::buffer_too_small);
}

}  // namespace p2psip::media
