#include "p2psip/sip/digest.hpp"

#include <gtest/gtest.h>

#include "p2psip/sip/error.hpp"

namespace p2psip::sip {
namespace {

// RFC 7616 §3.9.1: the same request answered with MD5 and with SHA-256.
constexpr std::string_view kUser = "Mufasa", kPassword = "Circle of Life",
                           kRealm = "http-auth@example.org", kUri = "/dir/index.html",
                           kNonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
                           kCnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

TEST(Digest, Rfc7616Vectors) {
    EXPECT_EQ(digest_response(DigestAlgorithm::md5, kUser, kRealm, kPassword, "GET", kUri, kNonce,
                              "00000001", kCnonce, "auth"),
              "8ca523f5e9506fed4657c9700eebdbec");
    EXPECT_EQ(digest_response(DigestAlgorithm::sha256, kUser, kRealm, kPassword, "GET", kUri,
                              kNonce, "00000001", kCnonce, "auth"),
              "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
}

TEST(Digest, ChallengeRoundTripAndAnswer) {
    const DigestChallenge c{.realm = "p2psip", .nonce = "abc123", .opaque = "o\"q"};
    const std::string header = format_challenge(c);
    EXPECT_EQ(header.rfind("Digest realm=\"p2psip\", nonce=\"abc123\", algorithm=SHA-256", 0), 0u)
        << header;
    DigestChallenge back;
    ASSERT_FALSE(parse_challenge(header, back));
    EXPECT_EQ(back.realm, "p2psip");
    EXPECT_EQ(back.nonce, "abc123");
    EXPECT_EQ(back.opaque, "o\"q");
    EXPECT_EQ(back.algorithm, DigestAlgorithm::sha256);

    // A phone answers; the registrar parses and verifies it.
    const auto creds =
        answer_challenge(back, "alice", "s3cret", "REGISTER", "sip:example.org", "0a4f113b", 1);
    DigestCredentials seen;
    ASSERT_FALSE(parse_credentials(format_credentials(creds), seen));
    EXPECT_EQ(seen.username, "alice");
    EXPECT_EQ(seen.nc, "00000001");
    EXPECT_EQ(seen.qop, "auth");
    EXPECT_TRUE(verify_credentials(seen, "REGISTER", "s3cret"));
    EXPECT_FALSE(verify_credentials(seen, "REGISTER", "wrong"));
    EXPECT_FALSE(verify_credentials(seen, "INVITE", "s3cret"));  // the method is covered
}

TEST(Digest, Md5WithoutQopAsOldPhonesSend) {
    // RFC 3261 §22.4 allows the RFC 2069 form: no qop, cnonce, nc.
    const std::string response =
        digest_response(DigestAlgorithm::md5, "bob", "biloxi.com", "zanzibar", "REGISTER",
                        "sip:biloxi.com", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "", "", "");
    const std::string header =
        "Digest username=\"bob\", realm=\"biloxi.com\", "
        "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
        "uri=\"sip:biloxi.com\", response=\"" +
        response + "\"";
    DigestCredentials c;
    ASSERT_FALSE(parse_credentials(header, c));
    EXPECT_EQ(c.algorithm, DigestAlgorithm::md5);
    EXPECT_TRUE(verify_credentials(c, "REGISTER", "zanzibar"));
    EXPECT_FALSE(verify_credentials(c, "REGISTER", "Zanzibar"));
}

TEST(Digest, MalformedIsRefused) {
    DigestChallenge ch;
    DigestCredentials cr;
    EXPECT_EQ(parse_challenge("Basic realm=\"x\"", ch), Errc::bad_digest);
    EXPECT_EQ(parse_challenge("Digest nonce=\"n\"", ch), Errc::bad_digest);  // no realm
    EXPECT_EQ(parse_challenge("Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256", ch),
              Errc::bad_digest);
    EXPECT_EQ(parse_credentials("Digest username=\"a\"", cr), Errc::bad_digest);
    EXPECT_EQ(parse_credentials("Digest username=\"a\", nonce=\"n\", uri=\"u\", response=\"r\", "
                                "qop=auth",
                                cr),
              Errc::bad_digest);  // qop without cnonce/nc
    EXPECT_EQ(parse_credentials("Digest garbage", cr), Errc::bad_digest);
    EXPECT_EQ(parse_credentials("", cr), Errc::bad_digest);
}

}  // namespace
}  // namespace p2psip::sip
