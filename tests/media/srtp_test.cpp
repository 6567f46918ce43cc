#include "p2psip/media/srtp.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "p2psip/media/error.hpp"
#include "p2psip/media/rtp.hpp"

namespace p2psip::media {
namespace {

SrtpKeyMaterial key_or_die(std::string_view suite = kSuiteAesCm128Sha1_80) {
    auto k = generate_key(suite);
    EXPECT_TRUE(k.has_value());
    return k.value_or(SrtpKeyMaterial{});
}

// A plain RTP packet in a buffer with room for the SRTP trailer.
struct Packet {
    std::array<uint8_t, 256> buf{};
    size_t len = 0;
};

Packet make_rtp(uint16_t seq, size_t payload_size = 40) {
    Packet p;
    RtpHeader h;
    h.payload_type = 111;
    h.sequence = seq;
    h.timestamp = 960u * seq;
    h.ssrc = 0x11223344;
    std::vector<uint8_t> payload(payload_size);
    for (size_t i = 0; i < payload_size; ++i) payload[i] = static_cast<uint8_t>(i * 7 + seq);
    EXPECT_FALSE(write_rtp(h, payload, p.buf, p.len));
    return p;
}

}  // namespace

TEST(Srtp, InitIsIdempotentAndThreadSafe) {
    std::vector<std::thread> threads;
    std::vector<std::error_code> results(4);
    for (size_t i = 0; i < results.size(); ++i)
        threads.emplace_back([&results, i] { results[i] = srtp_init(); });
    for (auto& t : threads) t.join();
    for (const auto& ec : results) EXPECT_FALSE(ec);
    EXPECT_FALSE(srtp_init());
}

TEST(Srtp, GenerateKey) {
    const auto a = generate_key();
    const auto b = generate_key(kSuiteAesCm128Sha1_32);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->suite, kSuiteAesCm128Sha1_80);
    EXPECT_EQ(b->suite, kSuiteAesCm128Sha1_32);
    EXPECT_NE(a->key_salt, b->key_salt);
    EXPECT_NE(a->key_salt, (std::array<uint8_t, 30>{}));
    EXPECT_FALSE(generate_key("AES_256_CM_HMAC_SHA1_80").has_value());
    EXPECT_TRUE(is_supported_suite(kSuiteAesCm128Sha1_32));
    EXPECT_FALSE(is_supported_suite("F8_128_HMAC_SHA1_80"));
}

TEST(Srtp, CryptoAttributeRoundTrip) {
    for (auto suite : {kSuiteAesCm128Sha1_80, kSuiteAesCm128Sha1_32}) {
        const auto key = key_or_die(suite);
        const std::string attr = format_crypto_attribute(7, key);
        EXPECT_EQ(attr.rfind("7 " + std::string(suite) + " inline:", 0), 0u) << attr;
        EXPECT_EQ(attr.size(), 2 + suite.size() + 8 + 40);  // 30 bytes -> 40 base64 chars
        int tag = 0;
        SrtpKeyMaterial parsed;
        ASSERT_FALSE(parse_crypto_attribute(attr, tag, parsed)) << attr;
        EXPECT_EQ(tag, 7);
        EXPECT_EQ(parsed, key);
        // The whole SDP line form is accepted too.
        ASSERT_FALSE(parse_crypto_attribute("a=crypto:" + attr + "\r\n", tag, parsed));
        EXPECT_EQ(parsed, key);
    }
}

TEST(Srtp, CryptoAttributeRfc4568Example) {
    // RFC 4568 §4 example key, with lifetime but without the MKI.
    int tag = 0;
    SrtpKeyMaterial k;
    ASSERT_FALSE(parse_crypto_attribute(
        "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20", tag, k));
    EXPECT_EQ(tag, 1);
    EXPECT_EQ(k.key_salt[0], 0x3d);
    EXPECT_EQ(k.key_salt[1], 0x2d);
    EXPECT_EQ(k.key_salt[29], 0x51);
    // Same example with MKI: we do not send MKIs, so it is refused.
    EXPECT_EQ(
        parse_crypto_attribute(
            "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32",
            tag, k),
        errc::unsupported_suite);
}

TEST(Srtp, CryptoAttributeBadInput) {
    const std::string b64 = "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";
    int tag = 42;
    SrtpKeyMaterial k;
    const SrtpKeyMaterial before = k;
    const std::vector<std::pair<std::string, errc>> cases = {
        {"", errc::bad_crypto_attribute},
        {"1", errc::bad_crypto_attribute},
        {"1 AES_CM_128_HMAC_SHA1_80", errc::bad_crypto_attribute},
        {"x AES_CM_128_HMAC_SHA1_80 inline:" + b64, errc::bad_crypto_attribute},
        {"-1 AES_CM_128_HMAC_SHA1_80 inline:" + b64, errc::bad_crypto_attribute},
        {"1234567890 AES_CM_128_HMAC_SHA1_80 inline:" + b64, errc::bad_crypto_attribute},
        {"1 AES_CM_128_HMAC_SHA1_80 " + b64, errc::bad_crypto_attribute},
        {"1 AES_CM_128_HMAC_SHA1_80 inline:" + b64.substr(4), errc::bad_crypto_attribute},
        {"1 AES_CM_128_HMAC_SHA1_80 inline:" + b64 + "AAAA", errc::bad_crypto_attribute},
        {"1 AES_CM_128_HMAC_SHA1_80 inline:" + b64.substr(0, 39) + "!", errc::bad_crypto_attribute},
        {"1 AES_CM_128_HMAC_SHA1_80 inline:" + b64 + "|abc", errc::bad_crypto_attribute},
        {"1 AES_CM_128_HMAC_SHA1_80 inline:" + b64 + ";inline:" + b64, errc::bad_crypto_attribute},
        {"1 AES_256_CM_HMAC_SHA1_80 inline:" + b64, errc::unsupported_suite},
        {"1 AES_CM_128_HMAC_SHA1_80 inline:" + b64 + " UNENCRYPTED_SRTP", errc::unsupported_suite},
        {"1 AES_CM_128_HMAC_SHA1_80 inline:" + b64 + " KDR=24", errc::unsupported_suite},
    };
    for (const auto& [text, want] : cases) {
        EXPECT_EQ(parse_crypto_attribute(text, tag, k), want) << text;
        EXPECT_EQ(tag, 42) << text;  // outputs untouched on failure
        EXPECT_EQ(k, before) << text;
    }
    // Harmless session parameters are ignored.
    EXPECT_FALSE(
        parse_crypto_attribute("1 AES_CM_128_HMAC_SHA1_80 inline:" + b64 + " WSH=128", tag, k));
}

TEST(Srtp, ProtectUnprotectRoundTrip) {
    for (auto [suite, tag_len] : {std::pair{kSuiteAesCm128Sha1_80, size_t{10}},
                                  std::pair{kSuiteAesCm128Sha1_32, size_t{4}}}) {
        const auto key = key_or_die(suite);
        SrtpContext tx, rx;
        ASSERT_FALSE(SrtpContext::create(key, SrtpDirection::outbound, tx));
        ASSERT_FALSE(SrtpContext::create(key, SrtpDirection::inbound, rx));
        EXPECT_TRUE(tx.valid());
        for (uint16_t seq = 65530; seq != 5; ++seq) {  // across the 16-bit wrap (ROC)
            const Packet plain = make_rtp(seq);
            Packet p = plain;
            ASSERT_FALSE(tx.protect(p.buf.data(), p.len, p.buf.size()));
            ASSERT_EQ(p.len, plain.len + tag_len);
            // Header in the clear, payload encrypted.
            EXPECT_TRUE(std::equal(plain.buf.begin(), plain.buf.begin() + 12, p.buf.begin()));
            EXPECT_FALSE(std::equal(plain.buf.begin() + 12, plain.buf.begin() + plain.len,
                                    p.buf.begin() + 12));
            ASSERT_FALSE(rx.unprotect(p.buf.data(), p.len)) << seq;
            ASSERT_EQ(p.len, plain.len);
            EXPECT_TRUE(
                std::equal(plain.buf.begin(), plain.buf.begin() + plain.len, p.buf.begin()));
        }
    }
}

TEST(Srtp, TamperWrongKeyAndReplayAreDetected) {
    const auto key = key_or_die();
    SrtpContext tx, rx, wrong;
    ASSERT_FALSE(SrtpContext::create(key, SrtpDirection::outbound, tx));
    ASSERT_FALSE(SrtpContext::create(key, SrtpDirection::inbound, rx));
    ASSERT_FALSE(SrtpContext::create(key_or_die(), SrtpDirection::inbound, wrong));

    Packet p = make_rtp(100);
    ASSERT_FALSE(tx.protect(p.buf.data(), p.len, p.buf.size()));

    Packet tampered = p;
    tampered.buf[20] ^= 0x01;
    EXPECT_EQ(rx.unprotect(tampered.buf.data(), tampered.len), errc::srtp_auth_failed);
    Packet bad_tag = p;
    bad_tag.buf[bad_tag.len - 1] ^= 0x80;
    EXPECT_EQ(rx.unprotect(bad_tag.buf.data(), bad_tag.len), errc::srtp_auth_failed);
    Packet other = p;
    EXPECT_EQ(wrong.unprotect(other.buf.data(), other.len), errc::srtp_auth_failed);

    Packet again = p;
    ASSERT_FALSE(rx.unprotect(p.buf.data(), p.len));
    EXPECT_EQ(rx.unprotect(again.buf.data(), again.len), errc::srtp_replay);
}

TEST(Srtp, RtcpRoundTripAndTamper) {
    const auto key = key_or_die(kSuiteAesCm128Sha1_32);
    SrtpContext tx, rx;
    ASSERT_FALSE(SrtpContext::create(key, SrtpDirection::outbound, tx));
    ASSERT_FALSE(SrtpContext::create(key, SrtpDirection::inbound, rx));
    // RTCP RR with no report blocks: V=2, PT=201, length=1, SSRC.
    std::array<uint8_t, 256> buf{0x80, 201, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd};
    const auto plain = buf;
    size_t len = 8;
    ASSERT_FALSE(tx.protect_rtcp(buf.data(), len, buf.size()));
    EXPECT_EQ(len, 8u + 4u + 10u);  // E||index + 80-bit tag (RFC 3711 §3.4)
    // Tampered first: libsrtp2 checks the replay window before the tag.
    auto copy = buf;
    size_t copy_len = len;
    copy[copy_len - 3] ^= 1;
    EXPECT_EQ(rx.unprotect_rtcp(copy.data(), copy_len), errc::srtp_auth_failed);
    ASSERT_FALSE(rx.unprotect_rtcp(buf.data(), len));
    EXPECT_EQ(len, 8u);
    EXPECT_TRUE(std::equal(plain.begin(), plain.begin() + 8, buf.begin()));
}

TEST(Srtp, ArgumentChecksAndMove) {
    SrtpContext none;
    EXPECT_FALSE(none.valid());
    Packet p = make_rtp(1);
    EXPECT_EQ(none.protect(p.buf.data(), p.len, p.buf.size()), errc::invalid_argument);

    SrtpKeyMaterial bad = key_or_die();
    bad.suite = "NULL";
    SrtpContext ctx;
    EXPECT_EQ(SrtpContext::create(bad, SrtpDirection::outbound, ctx), errc::unsupported_suite);

    const auto key = key_or_die();
    SrtpContext tx;
    ASSERT_FALSE(SrtpContext::create(key, SrtpDirection::outbound, tx));
    EXPECT_EQ(tx.unprotect(p.buf.data(), p.len), errc::invalid_argument);  // wrong direction
    EXPECT_EQ(tx.protect(p.buf.data(), p.len, p.len + 20), errc::buffer_too_small);

    SrtpContext moved(std::move(tx));
    EXPECT_FALSE(tx.valid());  // NOLINT(bugprone-use-after-move): documented moved-from state
    EXPECT_TRUE(moved.valid());
    SrtpContext assigned;
    assigned = std::move(moved);
    ASSERT_TRUE(assigned.valid());
    EXPECT_FALSE(assigned.protect(p.buf.data(), p.len, p.buf.size()));
}

}  // namespace p2psip::media

namespace p2psip::media {

// RFC 7714 AEAD_AES_128_GCM: Debian's libsrtp2 is built against NSS, which provides GCM.
TEST(SrtpGcm, SupportedAndKeySize) {
    ASSERT_TRUE(is_supported_suite(kSuiteAeadAes128Gcm));
    EXPECT_EQ(srtp_key_salt_size(kSuiteAeadAes128Gcm), 28u);
    EXPECT_EQ(srtp_key_salt_size(kSuiteAesCm128Sha1_80), 30u);
    EXPECT_EQ(srtp_key_salt_size("NULL"), 0u);
    const auto key = key_or_die(kSuiteAeadAes128Gcm);
    EXPECT_EQ(key.suite, kSuiteAeadAes128Gcm);
    EXPECT_EQ(key.key_salt_size(), 28u);
    EXPECT_EQ(key.key_salt[28], 0);  // unused tail stays zero
    EXPECT_EQ(key.key_salt[29], 0);
}

TEST(SrtpGcm, RtpRoundTripAndTamper) {
    const auto key = key_or_die(kSuiteAeadAes128Gcm);
    SrtpContext tx, rx;
    ASSERT_FALSE(SrtpContext::create(key, SrtpDirection::outbound, tx));
    ASSERT_FALSE(SrtpContext::create(key, SrtpDirection::inbound, rx));
    for (uint16_t seq = 65533; seq != 3; ++seq) {
        const Packet plain = make_rtp(seq);
        Packet p = plain;
        ASSERT_FALSE(tx.protect(p.buf.data(), p.len, p.buf.size()));
        ASSERT_EQ(p.len, plain.len + 16);  // RFC 7714 §9.2: 16-byte tag
        EXPECT_TRUE(std::equal(plain.buf.begin(), plain.buf.begin() + 12, p.buf.begin()));
        EXPECT_FALSE(
            std::equal(plain.buf.begin() + 12, plain.buf.begin() + plain.len, p.buf.begin() + 12));
        Packet tampered = p;
        tampered.buf[15] ^= 0x04;
        EXPECT_EQ(rx.unprotect(tampered.buf.data(), tampered.len), errc::srtp_auth_failed);
        Packet bad_header = p;
        bad_header.buf[1] ^= 0x01;  // the header is authenticated as AAD
        EXPECT_EQ(rx.unprotect(bad_header.buf.data(), bad_header.len), errc::srtp_auth_failed);
        ASSERT_FALSE(rx.unprotect(p.buf.data(), p.len)) << seq;
        ASSERT_EQ(p.len, plain.len);
        EXPECT_TRUE(std::equal(plain.buf.begin(), plain.buf.begin() + plain.len, p.buf.begin()));
    }
    // A different key of the same suite fails authentication.
    SrtpContext wrong;
    ASSERT_FALSE(
        SrtpContext::create(key_or_die(kSuiteAeadAes128Gcm), SrtpDirection::inbound, wrong));
    Packet p = make_rtp(10);
    ASSERT_FALSE(tx.protect(p.buf.data(), p.len, p.buf.size()));
    EXPECT_EQ(wrong.unprotect(p.buf.data(), p.len), errc::srtp_auth_failed);
}

TEST(SrtpGcm, RtcpRoundTripAndTamper) {
    const auto key = key_or_die(kSuiteAeadAes128Gcm);
    SrtpContext tx, rx;
    ASSERT_FALSE(SrtpContext::create(key, SrtpDirection::outbound, tx));
    ASSERT_FALSE(SrtpContext::create(key, SrtpDirection::inbound, rx));
    std::array<uint8_t, 256> buf{0x80, 201, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd};
    const auto plain = buf;
    size_t len = 8;
    ASSERT_FALSE(tx.protect_rtcp(buf.data(), len, buf.size()));
    EXPECT_EQ(len, 8u + 16u + 4u);  // RFC 7714 §9.3: tag, then E||SRTCP index
    auto copy = buf;
    size_t copy_len = len;
    copy[6] ^= 1;
    EXPECT_EQ(rx.unprotect_rtcp(copy.data(), copy_len), errc::srtp_auth_failed);
    ASSERT_FALSE(rx.unprotect_rtcp(buf.data(), len));
    EXPECT_EQ(len, 8u);
    EXPECT_TRUE(std::equal(plain.begin(), plain.begin() + 8, buf.begin()));
}

TEST(SrtpGcm, CryptoAttributeRoundTrip) {
    const auto key = key_or_die(kSuiteAeadAes128Gcm);
    const std::string attr = format_crypto_attribute(2, key);
    // RFC 7714 §12: 28 bytes -> 40 base64 characters with one '=' of padding.
    EXPECT_EQ(attr.rfind("2 AEAD_AES_128_GCM inline:", 0), 0u) << attr;
    EXPECT_EQ(attr.size(), 2 + kSuiteAeadAes128Gcm.size() + 8 + 40);
    EXPECT_EQ(attr.back(), '=');
    int tag = 0;
    SrtpKeyMaterial parsed;
    ASSERT_FALSE(parse_crypto_attribute("a=crypto:" + attr, tag, parsed)) << attr;
    EXPECT_EQ(tag, 2);
    EXPECT_EQ(parsed, key);
    // 30 bytes of key material are the wrong length for this suite.
    EXPECT_EQ(
        parse_crypto_attribute("1 AEAD_AES_128_GCM inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
                               tag, parsed),
        errc::bad_crypto_attribute);
    // Keys parsed from SDP work with SrtpContext.
    SrtpContext tx, rx;
    ASSERT_FALSE(SrtpContext::create(key, SrtpDirection::outbound, tx));
    ASSERT_FALSE(SrtpContext::create(parsed, SrtpDirection::inbound, rx));
    Packet p = make_rtp(7);
    ASSERT_FALSE(tx.protect(p.buf.data(), p.len, p.buf.size()));
    EXPECT_FALSE(rx.unprotect(p.buf.data(), p.len));
}

}  // namespace p2psip::media
