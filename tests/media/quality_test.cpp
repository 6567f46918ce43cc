#include "p2psip/media/quality.hpp"

#include <gtest/gtest.h>

namespace p2psip::media {

TEST(Quality, DefaultsGiveTheFamiliarRating) {
    // G.107 with every default parameter: R = 93.2, MOS 4.41.
    const EModelCodec g711 = emodel_codec("PCMU");
    EXPECT_NEAR(emodel_r_factor(0, 0, g711), 93.2, 0.05);
    EXPECT_NEAR(estimate_mos(0, 0, "PCMU"), 4.41, 0.01);
    EXPECT_NEAR(estimate_mos(0, 0, "opus/48000/2"), 4.41, 0.01);
}

TEST(Quality, CodecTable) {
    EXPECT_EQ(emodel_codec("PCMU").bpl, 25.1);  // G.113 Appendix I, G.711 with PLC
    EXPECT_EQ(emodel_codec("pcma/8000").bpl, 25.1);
    EXPECT_EQ(emodel_codec("PCMU").ie, 0.0);
    EXPECT_EQ(emodel_codec("OPUS").bpl, 25.1);
    EXPECT_EQ(emodel_codec("G729").bpl, 4.3);  // unknown: the least robust entry
    EXPECT_EQ(codec_lookahead_ms("opus"), 6.5);
    EXPECT_EQ(codec_lookahead_ms("PCMU"), 0.0);
}

TEST(Quality, PacketLossFollowsIeEff) {
    // Ie,eff = 95 * Ppl / (Ppl + Bpl) for Ie = 0, BurstR = 1.
    const EModelCodec g711 = emodel_codec("PCMA");
    const double r0 = emodel_r_factor(0, 0, g711);
    EXPECT_NEAR(r0 - emodel_r_factor(0, 1, g711), 95.0 * 1 / (1 + 25.1), 1e-9);
    EXPECT_NEAR(r0 - emodel_r_factor(0, 5, g711), 95.0 * 5 / (5 + 25.1), 1e-9);
    EXPECT_NEAR(estimate_mos(0, 10, "PCMA"), 3.41, 0.05);
    // Burstier loss hurts more.
    EXPECT_LT(emodel_r_factor(0, 5, g711, 2.0), emodel_r_factor(0, 5, g711, 1.0));
    // Monotonic, clamped.
    double prev = 5;
    for (double loss = 0; loss <= 100; loss += 2.5) {
        const double mos = estimate_mos(0, loss, "opus");
        EXPECT_LT(mos, prev) << loss;
        EXPECT_GE(mos, 1.0);
        prev = mos;
    }
    EXPECT_EQ(estimate_mos(0, 150, "opus"), estimate_mos(0, 100, "opus"));
}

TEST(Quality, DelayImpairment) {
    const EModelCodec g711 = emodel_codec("PCMU");
    // Echo terms with TELR 65 dB make even short delays cost a little; past 100 ms the pure
    // delay term Idd starts: 400 ms costs ~31 points (Idte 5.8 + Idle 1.2 + Idd 24.0).
    EXPECT_NEAR(emodel_r_factor(150, 0, g711), 89.4, 0.5);
    EXPECT_NEAR(emodel_r_factor(400, 0, g711), 62.3, 0.5);
    double prev = 100;
    for (double d = 0; d <= 600; d += 25) {
        const double r = emodel_r_factor(d, 0, g711);
        EXPECT_LE(r, prev + 1e-9) << d;
        prev = r;
    }
    // Typical VoIP planning: 150 ms one way is still "satisfied" (R > 80, MOS > 4.0).
    EXPECT_GT(estimate_mos(150, 0, "opus"), 4.0);
    EXPECT_LT(estimate_mos(400, 0, "opus"), 3.6);
}

TEST(Quality, RToMos) {
    EXPECT_EQ(r_to_mos(-5), 1.0);
    EXPECT_EQ(r_to_mos(0), 1.0);
    EXPECT_EQ(r_to_mos(100), 4.5);
    EXPECT_EQ(r_to_mos(120), 4.5);
    EXPECT_NEAR(r_to_mos(50), 2.58, 0.01);  // 1 + 1.75 + 50 * -10 * 50 * 7e-6
    EXPECT_NEAR(r_to_mos(80), 4.02, 0.01);
}

}  // namespace p2psip::media
