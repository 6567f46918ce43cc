// Offer/answer for the node's media: which keying (DTLS-SRTP, SDES, none) two sides agree on.
#include "sdp_glue.hpp"

#include <gtest/gtest.h>

#include <string>

namespace p2psip::node {
namespace {

constexpr char kFingerprintA[] =
    "sha-256 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:"
    "66:77:88:99";
constexpr char kFingerprintB[] =
    "sha-256 11:22:33:44:55:66:77:88:99:00:AA:BB:CC:DD:EE:FF:11:22:33:44:55:66:77:88:99:00:AA:BB:"
    "CC:DD:EE:FF";

LocalMedia plain_side(uint16_t port, bool sdes, const char* fingerprint) {
    LocalMedia m;
    m.use_ice = false;
    m.address = "127.0.0.1";
    m.port = port;
    m.codecs = codec_table({"opus", "pcmu"});
    if (sdes) m.key = media::generate_key();
    if (fingerprint) m.fingerprint = fingerprint;
    return m;
}

bool has_line(const std::string& sdp, const std::string& line) {
    return sdp.find(line + "\r\n") != std::string::npos;
}

std::string offer_text(const LocalMedia& caller) {
    return build_offer(caller);
}

TEST(SdpGlue, OfferCarriesFingerprintSetupAndCrypto) {
    const auto sdp = offer_text(plain_side(4000, true, kFingerprintA));
    EXPECT_TRUE(has_line(sdp, std::string("a=fingerprint:") + kFingerprintA)) << sdp;
    EXPECT_TRUE(has_line(sdp, "a=setup:actpass")) << sdp;
    EXPECT_NE(sdp.find("a=crypto:1 "), std::string::npos) << sdp;
    EXPECT_NE(sdp.find("RTP/SAVP"), std::string::npos) << sdp;
}

TEST(SdpGlue, DtlsIsPreferredAndTheAnswererIsActive) {
    const auto offer = offer_text(plain_side(4000, true, kFingerprintA));
    LocalMedia callee = plain_side(5000, false, kFingerprintB);
    RemoteMedia remote;
    std::string answer, why;
    int status = 0;
    ASSERT_TRUE(build_answer(offer, callee, false, remote, answer, status, why)) << why;
    EXPECT_EQ(remote.keying, Keying::dtls);
    EXPECT_EQ(remote.fingerprint, kFingerprintA);
    EXPECT_TRUE(remote.dtls_client);  // RFC 5763 §5: the answerer takes setup:active
    EXPECT_FALSE(remote.key);
    EXPECT_TRUE(has_line(answer, std::string("a=fingerprint:") + kFingerprintB)) << answer;
    EXPECT_TRUE(has_line(answer, "a=setup:active")) << answer;
    EXPECT_EQ(answer.find("a=crypto"), std::string::npos) << answer;

    // The caller reads it: DTLS, and it is the server.
    LocalMedia caller = plain_side(4000, true, kFingerprintA);
    RemoteMedia seen;
    ASSERT_TRUE(read_answer(answer, caller, seen, why)) << why;
    EXPECT_EQ(seen.keying, Keying::dtls);
    EXPECT_EQ(seen.fingerprint, kFingerprintB);
    EXPECT_FALSE(seen.dtls_client);
}

TEST(SdpGlue, AnOfferThatIsActiveMakesUsPassive) {
    LocalMedia caller = plain_side(4000, false, kFingerprintA);
    caller.setup = "active";
    LocalMedia callee = plain_side(5000, false, kFingerprintB);
    RemoteMedia remote;
    std::string answer, why;
    int status = 0;
    ASSERT_TRUE(build_answer(offer_text(caller), callee, false, remote, answer, status, why));
    EXPECT_FALSE(remote.dtls_client);
    EXPECT_TRUE(has_line(answer, "a=setup:passive")) << answer;
    RemoteMedia seen;
    ASSERT_TRUE(read_answer(answer, caller, seen, why)) << why;
    EXPECT_TRUE(seen.dtls_client);
}

TEST(SdpGlue, SdesForAPhoneWithoutDtls) {
    // Our offer to a plain phone: it answers with a=crypto only.
    LocalMedia phone = plain_side(6000, true, nullptr);
    RemoteMedia remote;
    std::string answer, why;
    int status = 0;
    ASSERT_TRUE(build_answer(offer_text(plain_side(4000, true, kFingerprintA)), phone, false,
                             remote, answer, status, why));
    EXPECT_EQ(remote.keying, Keying::sdes);
    EXPECT_EQ(answer.find("a=fingerprint"), std::string::npos) << answer;
    LocalMedia caller = plain_side(4000, true, kFingerprintA);
    RemoteMedia seen;
    ASSERT_TRUE(read_answer(answer, caller, seen, why)) << why;
    EXPECT_EQ(seen.keying, Keying::sdes);
    ASSERT_TRUE(seen.key);

    // A phone's SDES offer to us: SDES back, without our fingerprint.
    LocalMedia us = plain_side(5000, false, kFingerprintB);
    ASSERT_TRUE(build_answer(offer_text(plain_side(6000, true, nullptr)), us, false, remote, answer,
                             status, why));
    EXPECT_EQ(remote.keying, Keying::sdes);
    EXPECT_EQ(answer.find("a=fingerprint"), std::string::npos) << answer;
    EXPECT_NE(answer.find("a=crypto:1 "), std::string::npos) << answer;
}

TEST(SdpGlue, AnswerWithoutAnyKeyingIsRefused) {
    // We offered DTLS and SDES; an answer with neither would be plaintext.
    LocalMedia caller = plain_side(4000, true, kFingerprintA);
    LocalMedia phone = plain_side(6000, false, nullptr);
    const auto answer = build_offer(phone);  // RTP/AVP, no crypto, no fingerprint
    RemoteMedia seen;
    std::string why;
    EXPECT_FALSE(read_answer(answer, caller, seen, why));
    EXPECT_NE(why.find("SRTP"), std::string::npos) << why;
}

TEST(SdpGlue, DtlsProfileWithoutFingerprintGets488) {
    std::string offer = offer_text(plain_side(4000, false, nullptr));
    const auto at = offer.find("RTP/AVP");
    ASSERT_NE(at, std::string::npos);
    offer.replace(at, 7, "UDP/TLS/RTP/SAVP");
    LocalMedia us = plain_side(5000, false, kFingerprintB);
    RemoteMedia remote;
    std::string answer, why;
    int status = 0;
    EXPECT_FALSE(build_answer(offer, us, true, remote, answer, status, why));
    EXPECT_EQ(status, 488);
    EXPECT_NE(why.find("fingerprint"), std::string::npos) << why;
}

TEST(SdpGlue, AnswerSetupMustBeActiveOrPassive) {
    LocalMedia caller = plain_side(4000, true, kFingerprintA);
    LocalMedia callee = plain_side(5000, false, kFingerprintB);
    RemoteMedia remote;
    std::string answer, why;
    int status = 0;
    ASSERT_TRUE(build_answer(offer_text(caller), callee, false, remote, answer, status, why));
    const auto at = answer.find("a=setup:active");
    ASSERT_NE(at, std::string::npos);
    answer.replace(at, 14, "a=setup:actpass");
    RemoteMedia seen;
    EXPECT_FALSE(read_answer(answer, caller, seen, why));
    EXPECT_NE(why.find("a=setup"), std::string::npos) << why;
}

}  // namespace
}  // namespace p2psip::node
