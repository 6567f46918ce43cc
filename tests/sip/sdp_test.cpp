#include "p2psip/sip/sdp.hpp"

#include <gtest/gtest.h>

#include "p2psip/sip/error.hpp"

using namespace p2psip::sip;
using namespace p2psip::sip::sdp;

namespace {
const char* kOffer =
    "v=0\r\n"
    "o=alice 2890844526 2890844527 IN IP4 192.0.2.10\r\n"
    "s=Call\r\n"
    "c=IN IP4 192.0.2.10\r\n"
    "b=AS:64\r\n"
    "t=0 0\r\n"
    "a=ice-ufrag:abcd\r\n"
    "a=ice-lite\r\n"
    "m=audio 49170 RTP/AVP 96 0 8 101\r\n"
    "a=rtpmap:96 opus/48000/2\r\n"
    "a=fmtp:96 useinbandfec=1; minptime=10\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-15\r\n"
    "a=candidate:1 1 UDP 2130706431 192.0.2.10 49170 typ host\r\n"
    "a=sendonly\r\n"
    "m=video 51372 RTP/AVP 31\r\n"
    "c=IN IP4 192.0.2.11\r\n"
    "a=rtpmap:31 H261/90000\r\n";
}

TEST(Sdp, ParseFields) {
    SessionDescription sd;
    ASSERT_FALSE(parse(kOffer, sd));
    EXPECT_EQ(sd.origin.username, "alice");
    EXPECT_EQ(sd.origin.session_id, "2890844526");
    EXPECT_EQ(sd.origin.session_version, "2890844527");
    EXPECT_EQ(sd.origin.address, "192.0.2.10");
    EXPECT_EQ(sd.session_name, "Call");
    ASSERT_TRUE(sd.connection);
    EXPECT_EQ(sd.connection->address, "192.0.2.10");
    EXPECT_EQ(sd.bandwidths, std::vector<std::string>{"AS:64"});
    ASSERT_EQ(sd.attributes.size(), 2u);
    EXPECT_EQ(sd.attribute("ice-ufrag"), "abcd");
    EXPECT_TRUE(sd.attributes[1].flag);
    EXPECT_EQ(sd.attributes[1].name, "ice-lite");
    ASSERT_EQ(sd.media.size(), 2u);
    const Media& a = sd.media[0];
    EXPECT_EQ(a.type, "audio");
    EXPECT_EQ(a.port, 49170);
    EXPECT_EQ(a.proto, "RTP/AVP");
    EXPECT_EQ(a.formats, (std::vector<std::string>{"96", "0", "8", "101"}));
    EXPECT_EQ(a.attributes.size(), 6u);
    EXPECT_EQ(a.attributes_named("rtpmap").size(), 2u);
    EXPECT_EQ(direction(a, &sd), Direction::sendonly);
    EXPECT_EQ(direction(sd.media[1], &sd), Direction::sendrecv);
    ASSERT_TRUE(sd.media[1].connection);
    EXPECT_EQ(sd.media[1].connection->address, "192.0.2.11");
}

TEST(Sdp, RoundTrip) {
    SessionDescription sd;
    ASSERT_FALSE(parse(kOffer, sd));
    EXPECT_EQ(to_string(sd), kOffer);
    // LF-only input is accepted and written back with CRLF.
    std::string lf;
    for (const char* p = kOffer; *p; ++p)
        if (*p != '\r') lf += *p;
    SessionDescription sd2;
    ASSERT_FALSE(parse(lf, sd2));
    EXPECT_EQ(to_string(sd2), kOffer);
}

TEST(Sdp, Errors) {
    SessionDescription sd;
    EXPECT_EQ(parse("o=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\n", sd), Errc::sdp_missing_field);
    EXPECT_EQ(parse("v=0\r\ns=-\r\n", sd), Errc::sdp_missing_field);
    EXPECT_EQ(parse("v=0\r\no=- 1 IN IP4 1.2.3.4\r\ns=-\r\n", sd), Errc::sdp_bad_origin);
    EXPECT_EQ(parse("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4\r\n", sd),
              Errc::sdp_bad_connection);
    EXPECT_EQ(parse("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nm=audio x RTP/AVP 0\r\n", sd),
              Errc::sdp_bad_media);
    EXPECT_EQ(parse("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nthis is not sdp\r\n", sd),
              Errc::sdp_bad_line);
}

TEST(Sdp, CodecsFromMedia) {
    SessionDescription sd;
    ASSERT_FALSE(parse(kOffer, sd));
    auto c = codecs(sd.media[0]);
    ASSERT_EQ(c.size(), 4u);
    EXPECT_EQ(c[0].pt, 96);
    EXPECT_EQ(c[0].name, "opus");
    EXPECT_EQ(c[0].clock, 48000);
    EXPECT_EQ(c[0].channels, 2);
    EXPECT_EQ(c[0].fmtp, "useinbandfec=1; minptime=10");
    // static payload types without rtpmap (RFC 3551)
    EXPECT_EQ(c[1].pt, 0);
    EXPECT_EQ(c[1].name, "PCMU");
    EXPECT_EQ(c[1].clock, 8000);
    EXPECT_EQ(c[2].name, "PCMA");
    EXPECT_EQ(c[3].name, "telephone-event");
    EXPECT_EQ(c[3].fmtp, "0-15");
}

TEST(Sdp, SetCodecsWritesRtpmapAndFmtp) {
    Media m;
    m.attributes.push_back({"ptime", "20", false});
    set_codecs(m, {{111, "opus", 48000, 2, "useinbandfec=1"}, {0, "PCMU", 8000, 1, ""}});
    EXPECT_EQ(m.formats, (std::vector<std::string>{"111", "0"}));
    EXPECT_EQ(m.attributes_named("rtpmap"),
              (std::vector<std::string>{"111 opus/48000/2", "0 PCMU/8000"}));
    EXPECT_EQ(m.attribute("fmtp"), "111 useinbandfec=1");
    EXPECT_EQ(m.attribute("ptime"), "20");
    auto back = codecs(m);
    ASSERT_EQ(back.size(), 2u);
    EXPECT_EQ(back[0].fmtp, "useinbandfec=1");
}

TEST(Sdp, NegotiateKeepsOffererOrder) {
    std::vector<Codec> offered = {{0, "PCMU", 8000, 1, ""},
                                  {96, "OPUS", 48000, 2, "x=1"},
                                  {8, "PCMA", 8000, 1, ""},
                                  {97, "speex", 16000, 1, ""}};
    std::vector<Codec> supported = {{111, "opus", 48000, 2, ""}, {0, "PCMU", 8000, 1, ""}};
    auto r = negotiate(offered, supported);
    ASSERT_EQ(r.size(), 2u);
    EXPECT_EQ(r[0].pt, 0);
    EXPECT_EQ(r[1].pt, 96);  // offerer's payload type
    EXPECT_EQ(r[1].fmtp, "x=1");
    EXPECT_TRUE(negotiate(offered, {{9, "G722", 8000, 1, ""}}).empty());
}

TEST(Sdp, Directions) {
    EXPECT_EQ(answer_direction(Direction::sendonly), Direction::recvonly);
    EXPECT_EQ(answer_direction(Direction::recvonly), Direction::sendonly);
    EXPECT_EQ(answer_direction(Direction::inactive), Direction::inactive);
    EXPECT_EQ(answer_direction(Direction::sendrecv), Direction::sendrecv);
    EXPECT_EQ(answer_direction(Direction::sendrecv, Direction::recvonly), Direction::recvonly);
    EXPECT_EQ(answer_direction(Direction::sendonly, Direction::sendonly), Direction::inactive);
    Media m;
    set_direction(m, Direction::recvonly);
    set_direction(m, Direction::inactive);
    EXPECT_EQ(direction(m), Direction::inactive);
    EXPECT_EQ(m.attributes.size(), 1u);
}

TEST(Sdp, OfferAnswer) {
    AudioParams alice;
    alice.address = "127.0.0.1";
    alice.port = 40000;
    alice.codecs = {{111, "opus", 48000, 2, "useinbandfec=1"}, {0, "PCMU", 8000, 1, ""}};
    alice.ptime = 20;
    alice.attributes.push_back({"ice-ufrag", "u1", false});
    alice.session_id = 42;
    std::string offer_text = to_string(make_offer(alice));

    SessionDescription offer;
    ASSERT_FALSE(parse(offer_text, offer));
    EXPECT_EQ(offer.origin.session_id, "42");
    EXPECT_EQ(offer.media[0].attribute("ice-ufrag"), "u1");
    EXPECT_EQ(offer.media[0].attribute("ptime"), "20");
    // add a video stream the answerer will reject
    Media video;
    video.type = "video";
    video.port = 5000;
    video.formats = {"31"};
    offer.media.push_back(video);

    AudioParams bob;
    bob.address = "127.0.0.2";
    bob.port = 50000;
    bob.codecs = {{0, "PCMU", 8000, 1, ""}, {8, "PCMA", 8000, 1, ""}, {96, "opus", 48000, 2, ""}};
    SessionDescription answer;
    ASSERT_FALSE(make_answer(offer, bob, answer));
    ASSERT_EQ(answer.media.size(), 2u);
    auto chosen = codecs(answer.media[0]);
    ASSERT_EQ(chosen.size(), 2u);
    EXPECT_EQ(chosen[0].pt, 111);  // offerer's order and payload types
    EXPECT_EQ(chosen[1].pt, 0);
    EXPECT_EQ(answer.media[1].port, 0);  // rejected (RFC 3264 §6)
    EXPECT_EQ(answer.media[1].type, "video");

    SessionDescription reparsed;
    ASSERT_FALSE(parse(to_string(answer), reparsed));
    RemoteAudio ra;
    ASSERT_FALSE(audio_stream(reparsed, ra));
    EXPECT_EQ(ra.address, "127.0.0.2");
    EXPECT_EQ(ra.port, 50000);
    EXPECT_EQ(ra.codecs.size(), 2u);
    EXPECT_EQ(ra.direction, Direction::sendrecv);

    bob.codecs = {{9, "G722", 8000, 1, ""}};
    EXPECT_EQ(make_answer(offer, bob, answer), Errc::sdp_no_common_codec);
    SessionDescription no_audio;
    EXPECT_EQ(make_answer(no_audio, bob, answer), Errc::sdp_no_audio);
}
