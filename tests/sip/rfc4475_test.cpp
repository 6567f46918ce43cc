// RFC 4475 torture tests: one gtest per message of ../shared/testdata/sip/rfc4475/.
// Every message is parsed (valid ones with the values the RFC explains, invalid ones with
// the precise error), and every request and response is also sent as raw bytes over UDP on
// 127.0.0.1 to a real UserAgent whose answer (or silence) is asserted.

#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <string>

#include "p2psip/sip/error.hpp"
#include "p2psip/sip/message.hpp"
#include "p2psip/sip/sdp.hpp"
#include "p2psip/sip/ua.hpp"
#include "p2psip/sip/uri.hpp"
#include "test_util.hpp"

using namespace p2psip::sip;
using namespace sip_test;

namespace {

std::string torture(const std::string& name) {
    return read_file("../shared/testdata/sip/rfc4475/" + name + ".dat");
}

NameAddr name_addr(std::string_view text) {
    NameAddr na;
    auto ec = parse_name_addr(text, na);
    EXPECT_TRUE(!ec || ec == Errc::unsupported_scheme) << text << ": " << ec.message();
    return na;
}

Uri uri(std::string_view text) {
    Uri u;
    auto ec = parse_uri(text, u);
    EXPECT_TRUE(!ec || ec == Errc::unsupported_scheme) << text << ": " << ec.message();
    return u;
}

Via via(std::string_view text) {
    Via v;
    EXPECT_FALSE(parse_via(text, v)) << text;
    return v;
}

std::vector<std::pair<std::string, std::string>> params(
    std::initializer_list<std::pair<std::string, std::string>> l) {
    return l;
}

constexpr int kSilent = 0;  // the UA must not answer (responses, dropped datagrams)

struct Case {
    std::string name;
    std::string section;                                         // RFC 4475 section
    std::optional<Errc> parse_error;                             // nullopt: parses
    int ua_status;                                               // the UA's answer, or kSilent
    std::function<void(const Message&)> check = nullptr;         // parsed values
    std::function<void(const Message&)> check_answer = nullptr;  // the UA's answer
    uint16_t reply_port = 5060;  // where §18.2.2 sends the answer (top Via port or 5060)
};

std::ostream& operator<<(std::ostream& os, const Case& c) {
    return os << c.name;
}

const std::string kAnswer =
    "v=0\r\no=bob 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 50000 RTP/AVP 0\r\na=sendrecv\r\n";

// ---------------------------------------------------------------- §3.1.1 valid

void check_wsinv(const Message& m) {
    // §3.1.1.1: LWS, folding, compact names, escaped quotes, unknown headers.
    EXPECT_EQ(m.method(), "INVITE");
    EXPECT_EQ(m.request_uri(), "sip:vivekg@chair-dnrc.example.com;unknownparam");
    EXPECT_TRUE(uri(m.request_uri()).has_param("unknownparam"));
    NameAddr to = m.to();
    EXPECT_EQ(to.uri.to_string(), "sip:vivekg@chair-dnrc.example.com");
    EXPECT_EQ(to.tag(), "1918181833n");
    NameAddr from = m.from();
    EXPECT_EQ(from.display, "J Rosenberg \\\"");  // quoted-pairs: \\ and \" unescaped
    EXPECT_EQ(from.uri.to_string(), "sip:jdrosen@example.com");
    EXPECT_EQ(from.tag(), "98asjd8");
    EXPECT_EQ(m.max_forwards(), 68);  // "0068"
    EXPECT_EQ(m.call_id(), "wsinv.ndaksdj@192.0.2.1");
    EXPECT_EQ(m.cseq().number, 9u);  // "0009\r\n  INVITE"
    EXPECT_EQ(m.cseq().method, "INVITE");
    auto vias = m.headers("Via");
    ASSERT_EQ(vias.size(), 3u);  // one Via plus a folded two-value "v:"
    Via v1 = via(vias[0]), v2 = via(vias[1]), v3 = via(vias[2]);
    EXPECT_EQ(v1.transport, "UDP");
    EXPECT_EQ(v1.host, "192.0.2.2");
    EXPECT_EQ(v1.branch, "390skdjuw");
    EXPECT_EQ(v2.transport, "TCP");
    EXPECT_EQ(v2.host, "spindle.example.com");
    EXPECT_EQ(v2.branch, "z9hG4bK9ikj8");
    EXPECT_EQ(v3.transport, "UDP");
    EXPECT_EQ(v3.host, "192.168.255.111");
    EXPECT_EQ(v3.branch, "z9hG4bK30239");
    EXPECT_EQ(m.header("Subject"), "");  // "s :" with an empty value
    EXPECT_EQ(m.header("NewFangledHeader"), "newfangled value continued newfangled value");
    EXPECT_EQ(m.header("UnknownHeaderWithUnusualValue"), ";;,,;;,;");
    EXPECT_EQ(m.header("Content-Type"), "application/sdp");
    auto route = m.headers("Route");
    ASSERT_EQ(route.size(), 1u);
    Uri r = name_addr(route[0]).uri;
    EXPECT_TRUE(r.has_param("lr"));
    EXPECT_EQ(r.param("unknownwith"), "value");
    EXPECT_TRUE(r.has_param("unknown-no-value"));
    auto contact = m.contact();
    ASSERT_TRUE(contact);
    EXPECT_EQ(contact->display, "Quoted string \"\"");
    EXPECT_EQ(contact->uri.to_string(), "sip:jdrosen@example.com");
    EXPECT_EQ(contact->params,
              params({{"newparam", "newvalue"}, {"secondparam", ""}, {"q", "0.33"}}));
    EXPECT_EQ(m.body().size(), 150u);
    sdp::SessionDescription sd;
    EXPECT_FALSE(sdp::parse(m.body(), sd));
}

void check_intmeth(const Message& m) {
    // §3.1.1.2: every token character in method, header name, branch, tags; odd URIs.
    const std::string method = "!interesting-Method0123456789_*+`.%indeed'~";
    EXPECT_EQ(m.method(), method);
    EXPECT_EQ(m.cseq().method, method);
    EXPECT_EQ(m.cseq().number, 139122385u);
    Uri ruri = uri(m.request_uri());
    EXPECT_EQ(ruri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    EXPECT_EQ(ruri.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
    EXPECT_EQ(ruri.host, "example.com");
    EXPECT_EQ(m.via().transport, "TCP");
    EXPECT_EQ(m.via().branch, "z9hG4bK-.!%66*_+`'~");  // escapes in tokens are not decoded
    NameAddr to = m.to();
    EXPECT_EQ(to.display, std::string("BEL:\x07 NUL:\0 DEL:\x7f", 17));  // quoted-pairs
    EXPECT_EQ(to.uri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    NameAddr from = m.from();
    EXPECT_EQ(from.display, "token1~` token2'+_ token3*%!.-");
    EXPECT_EQ(from.uri.to_string(), "sip:mundane@example.com");
    EXPECT_EQ(from.tag(), "_token~1'+`*%!-.");
    auto fp = from.param("fromParam''~+*_!.-%");
    ASSERT_TRUE(fp);
    EXPECT_EQ(*fp,
              "\"\xd1\x80\xd0\xb0\xd0\xb1\xd0\xbe\xd1\x82\xd0\xb0\xd1\x8e\xd1\x89\xd0\xb8"
              "\xd0\xb9\"");  // UTF-8 quoted string, kept with its quotes
    EXPECT_EQ(m.call_id(), "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
    EXPECT_EQ(m.max_forwards(), 255);
    EXPECT_EQ(m.header("extensionHeader-!.%*+_`'~"),
              "\xef\xbb\xbf\xe5\xa4\xa7\xe5\x81\x9c\xe9\x9b\xbb");  // UTF-8 value
    EXPECT_TRUE(m.body().empty());
}

void check_esc01(const Message& m) {
    // §3.1.1.3: escapes in URIs must not be decoded into structure.
    Uri ruri = uri(m.request_uri());
    EXPECT_EQ(ruri.scheme, "sip");  // not a sips: URI
    EXPECT_EQ(ruri.user, "sips%3Auser%40example.com");
    EXPECT_EQ(ruri.host, "example.net");
    EXPECT_EQ(canonical_aor(m.to().uri), "sip:user@example.com");  // sip:%75se%72@
    EXPECT_EQ(canonical_aor(m.from().uri), "sip:I%20have%20spaces@example.net");
    EXPECT_EQ(m.from().tag(), "938");
    EXPECT_EQ(m.call_id(), "esc01.239409asdfakjkn23onasd0-3234");  // "i:"
    EXPECT_EQ(m.header("Content-Type"), "application/sdp");        // "C:"
    auto c = m.contact();                                          // folded onto the next line
    ASSERT_TRUE(c);
    EXPECT_EQ(canonical_aor(c->uri), "sip:caller@host5.example.net");  // cal%6Cer
    // ;%6C%72 is "lr" escaped; n%61me=v%61lue%25%34%31 is name=value%41. Kept as written.
    EXPECT_EQ(c->uri.params, params({{"%6C%72", ""}, {"n%61me", "v%61lue%25%34%31"}}));
    EXPECT_EQ(m.max_forwards(), 87);
    EXPECT_EQ(m.body().size(), 150u);
}

void check_escnull(const Message& m) {
    // §3.1.1.4: %00 in user parts is legal and stays escaped.
    EXPECT_EQ(m.method(), "REGISTER");
    EXPECT_EQ(m.to().uri.user, "null-%00-null");
    EXPECT_EQ(canonical_aor(m.to().uri), "sip:null-%00-null@example.com");
    EXPECT_EQ(m.from().tag(), "839923423");
    auto contacts = m.headers("Contact");
    ASSERT_EQ(contacts.size(), 2u);
    EXPECT_EQ(name_addr(contacts[0]).uri.user, "%00");
    EXPECT_EQ(name_addr(contacts[1]).uri.user, "%00%00");
    EXPECT_TRUE(m.body().empty());  // "L:0"
}

void check_esc02(const Message& m) {
    // §3.1.1.5: escapes in a method or header name are literal characters.
    EXPECT_EQ(m.method(), "RE%47IST%45R");  // not REGISTER
    EXPECT_EQ(m.cseq().method, "RE%47IST%45R");
    EXPECT_EQ(m.to().display, "%Z%45");
    EXPECT_EQ(m.from().display, "%Z%45");
    EXPECT_EQ(m.via().transport, "TCP");
    EXPECT_EQ(m.via().branch, "z9hG4bK209%fzsnel234");
    auto contacts = m.headers("Contact");
    ASSERT_EQ(contacts.size(), 2u);  // C%6Fntact is another header
    EXPECT_EQ(name_addr(contacts[0]).uri.host, "host1.example.com");
    EXPECT_EQ(name_addr(contacts[1]).uri.host, "host3.example.com");
    EXPECT_EQ(m.header("C%6Fntact"), "<sip:alias2@host2.example.com>");
}

void check_lwsdisp(const Message& m) {
    // §3.1.1.6: no LWS between display-name and "<".
    EXPECT_EQ(m.from().display, "caller");
    EXPECT_EQ(m.from().uri.to_string(), "sip:caller@example.com");
    EXPECT_EQ(m.from().tag(), "323");
}

void check_longreq(const Message& m) {
    // §3.1.1.7: long values everywhere, 34 Vias in many spellings.
    std::string extreme;
    for (int i = 0; i < 10; ++i) extreme += "extreme";
    NameAddr to = m.to();
    EXPECT_EQ(to.display, "I have a user name of " + extreme + " proportion");
    EXPECT_EQ(to.uri.port, 6000);
    ASSERT_EQ(to.uri.params.size(), 3u);
    EXPECT_EQ(to.uri.params[0].first, "unknownparam1");
    EXPECT_EQ(to.uri.params[0].second.substr(0, 12), "verylonglong");
    EXPECT_EQ(to.uri.params[1].second, "shortvalue");
    EXPECT_EQ(to.uri.params[2].second, "");
    EXPECT_EQ(to.uri.params[2].first.substr(to.uri.params[2].first.size() - 24),
              "ParameterNameWithNoValue");
    std::string caller;
    for (int i = 0; i < 5; ++i) caller += "amazinglylongcallername";
    NameAddr from = m.from();  // "F:"
    EXPECT_EQ(from.uri.user, caller);
    EXPECT_EQ(from.tag().value_or("").size(), 155u);
    EXPECT_TRUE(
        from.param("unknownheaderparamnamenamenamenamenamenamenamenamenamenamenamename"
                   "namenamenamenamenamenamenamename"));
    EXPECT_EQ(m.call_id().substr(0, 11), "longreq.one");
    EXPECT_EQ(m.call_id().substr(m.call_id().size() - 10), "longcallid");
    EXPECT_TRUE(m.has_header(
        "Unknown-LongLongLongLongLongLongLongLongLongLongLongLongLongLongLongLongLongLongLongLong-"
        "Name"));
    auto vias = m.headers("Via");
    ASSERT_EQ(vias.size(), 34u);
    EXPECT_EQ(m.via().host, "sip33.example.com");
    EXPECT_EQ(m.via().transport, "TCP");
    EXPECT_EQ(via(vias[16]).host, "sip17.example.com");  // "Via  :"
    Via last = via(vias.back());
    EXPECT_EQ(last.host, "host.example.com");
    EXPECT_EQ(last.received, "192.0.2.5");
    EXPECT_EQ(last.branch.substr(0, 8), "verylong");
    EXPECT_EQ(m.max_forwards(), 70);
    EXPECT_EQ(m.body().size(), 150u);  // "l: 150"
}

void check_dblreq(const Message& m) {
    // §3.1.1.8: over UDP, the second request after Content-Length octets is discarded.
    EXPECT_EQ(m.method(), "REGISTER");
    EXPECT_EQ(m.call_id(), "dblreq.0ha0isndaksdj99sdfafnl3lk233412");  // "I:"
    EXPECT_TRUE(m.body().empty());
    EXPECT_EQ(m.fields().size(), 8u);
    EXPECT_NE(m.raw().find("INVITE sip:joe@example.com"), std::string::npos);
}

void check_semiuri(const Message& m) {
    // §3.1.1.9: ";par=u%40example.net" belongs to the user part, not the URI parameters.
    Uri ruri = uri(m.request_uri());
    EXPECT_EQ(ruri.user, "user;par=u%40example.net");
    EXPECT_EQ(ruri.host, "example.com");
    EXPECT_TRUE(ruri.params.empty());
    auto accept = m.headers("Accept");  // folded list of six types
    ASSERT_EQ(accept.size(), 6u);
    EXPECT_EQ(accept[0], "application/sdp");
    EXPECT_EQ(accept[2], "multipart/mixed");
    EXPECT_EQ(accept[5], "message/sipfrag");
}

void check_transports(const Message& m) {
    // §3.1.1.10: known and unknown transports in Via.
    auto vias = m.headers("Via");
    ASSERT_EQ(vias.size(), 5u);
    const char* expected[] = {"UDP", "SCTP", "TLS", "UNKNOWN", "TCP"};
    for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(via(vias[i]).transport, expected[i]);
    EXPECT_EQ(via(vias[3]).host, "t4.example.com");
    EXPECT_EQ(m.call_id(), "transports.kijh4akdnaqjkwendsasfdj");
}

void check_mpart01(const Message& m) {
    // §3.1.1.11: multipart body with binary parts (bare LFs, NULs) is just octets.
    EXPECT_EQ(m.method(), "MESSAGE");
    EXPECT_EQ(m.header("Content-Type"), "multipart/mixed;boundary=7a9cbec02ceef655");
    EXPECT_EQ(m.body().size(), 553u);
    EXPECT_EQ(m.body().substr(0, 20), "--7a9cbec02ceef655\r\n");
    EXPECT_EQ(m.body().substr(553 - 22), "--7a9cbec02ceef655--\r\n");
    EXPECT_TRUE(m.via().has_rport);
    EXPECT_EQ(m.via().port, 5070);
}

void check_unreason(const Message& m) {
    // §3.1.1.12: a UTF-8 reason phrase.
    EXPECT_FALSE(m.is_request());
    EXPECT_EQ(m.status(), 200);
    EXPECT_EQ(m.reason(),
              "= 2**3 * 5**2 \xd0\xbd\xd0\xbe \xd1\x81\xd1\x82\xd0\xbe \xd0\xb4\xd0\xb5\xd0\xb2"
              "\xd1\x8f\xd0\xbd\xd0\xbe\xd1\x81\xd1\x82\xd0\xbe \xd0\xb4\xd0\xb5\xd0\xb2\xd1\x8f"
              "\xd1\x82\xd1\x8c - \xd0\xbf\xd1\x80\xd0\xbe\xd1\x81\xd1\x82\xd0\xbe\xd0\xb5");
    EXPECT_EQ(m.body().size(), 154u);
}

void check_noreason(const Message& m) {
    // §3.1.1.13: an empty reason phrase.
    EXPECT_EQ(m.status(), 100);
    EXPECT_EQ(m.reason(), "");
    EXPECT_EQ(m.to_tag(), "902jndnke3");
}

// ---------------------------------------------------------------- §3.2, §3.3, §3.4

void check_badbranch(const Message& m) {
    // §3.2.1: the magic cookie alone is not an RFC 3261 transaction id.
    EXPECT_EQ(m.via().branch, "z9hG4bK");
    EXPECT_FALSE(m.via().rfc3261_branch());
}

void check_unkscm(const Message& m) {
    Uri u;
    EXPECT_EQ(parse_uri(m.request_uri(), u), Errc::unsupported_scheme);
    EXPECT_EQ(u.scheme, "nobodyknowsthisscheme");
    EXPECT_EQ(u.opaque, "totallyopaquecontent");
}

void check_novelsc(const Message& m) {
    Uri u;
    EXPECT_EQ(parse_uri(m.request_uri(), u), Errc::unsupported_scheme);
    EXPECT_EQ(u.scheme, "soap.beep");
    EXPECT_EQ(u.opaque, "//192.0.2.103:3002");
}

void check_unksm2(const Message& m) {
    // §3.3.4: non-SIP schemes in To, From and Contact must not break the parser.
    NameAddr to = m.to(), from = m.from();
    EXPECT_EQ(to.uri.scheme, "isbn");
    EXPECT_EQ(to.uri.opaque, "2983792873");
    EXPECT_EQ(from.uri.to_string(), "http://www.example.com");
    EXPECT_EQ(from.tag(), "3234233");
    auto contacts = m.headers("Contact");
    ASSERT_EQ(contacts.size(), 1u);
    EXPECT_EQ(name_addr(contacts[0]).uri.to_string(), "name:John_Smith");
}

void check_bext01(const Message& m) {
    EXPECT_EQ(m.headers("Require").size(), 2u);
    EXPECT_EQ(m.headers("Proxy-Require").size(), 2u);
    EXPECT_EQ(m.via().transport, "TLS");
}

void check_invut(const Message& m) {
    EXPECT_EQ(m.header("Content-Type"), "application/unknownformat");
    EXPECT_EQ(m.body().size(), 40u);
}

void check_regaut01(const Message& m) {
    EXPECT_EQ(m.header("Authorization"), "NoOneKnowsThisScheme opaque-data=here");
}

void check_bcast(const Message& m) {
    auto vias = m.headers("Via");
    ASSERT_EQ(vias.size(), 2u);
    EXPECT_EQ(via(vias[1]).host, "255.255.255.255");
}

void check_zeromf(const Message& m) {
    EXPECT_EQ(m.max_forwards(), 0);
}

void check_cparam01(const Message& m) {
    // §3.3.12: in an addr-spec, ";unknownparam" is a contact parameter.
    auto c = m.contact();
    ASSERT_TRUE(c);
    EXPECT_EQ(c->uri.to_string(), "sip:+19725552222@gw1.example.net");
    EXPECT_TRUE(c->uri.params.empty());
    EXPECT_EQ(c->params, params({{"unknownparam", ""}}));
}

void check_cparam02(const Message& m) {
    // §3.3.13: inside <>, it is a URI parameter.
    auto c = m.contact();
    ASSERT_TRUE(c);
    EXPECT_TRUE(c->uri.has_param("unknownparam"));
    EXPECT_TRUE(c->params.empty());
}

void check_regescrt(const Message& m) {
    // §3.3.14: an escaped Route header inside a name-addr Contact URI is legal.
    auto c = m.contact();  // "M:"
    ASSERT_TRUE(c);
    EXPECT_EQ(c->uri.headers, params({{"Route", "%3Csip:sip.example.com%3E"}}));
}

void check_sdp01(const Message& m) {
    EXPECT_EQ(m.header("Accept"), "text/nobodyKnowsThis");
    EXPECT_EQ(m.body().size(), 150u);
}

void check_inv2543(const Message& m) {
    // §3.4.1: RFC 2543 syntax: no Max-Forwards, no branch, no tags, no Content-Length.
    EXPECT_EQ(m.max_forwards(), -1);
    EXPECT_EQ(m.via().branch, "");
    EXPECT_EQ(m.from_tag(), "");
    // addr-spec To: ";user=phone" is a header parameter (RFC 3261 §20.10).
    NameAddr to = m.to();
    EXPECT_EQ(to.uri.to_string(), "sip:+16505552222@ss1.example.net");
    EXPECT_EQ(to.param("user"), "phone");
    EXPECT_EQ(m.from().uri.param("user"), "phone");
    EXPECT_EQ(m.body().substr(0, 5), "v=0\r\n");  // the rest of the datagram
    EXPECT_EQ(m.body().substr(m.body().size() - 25), "m=audio 49217 RTP/AVP 0\r\n");
}

// ---------------------------------------------------------------- answers

std::function<void(const Message&)> reason_is(Errc e) {
    return [e](const Message& r) { EXPECT_EQ(r.reason(), make_error_code(e).message()); };
}

void has_allow(const Message& r) {
    EXPECT_NE(r.header("Allow").value_or("").find("INVITE"), std::string_view::npos);
}

const Case kCases[] = {
    // §3.1.1 valid messages
    {"wsinv", "3.1.1.1", {}, 481, check_wsinv},  // To tag of a dialog we do not have
    {"intmeth", "3.1.1.2", {}, 501, check_intmeth},
    {"esc01", "3.1.1.3", {}, 200, check_esc01},
    {"escnull", "3.1.1.4", {}, 405, check_escnull, has_allow},  // a UA is not a registrar
    {"esc02", "3.1.1.5", {}, 501, check_esc02},
    {"lwsdisp", "3.1.1.6", {}, 200, check_lwsdisp},
    {"longreq",
     "3.1.1.7",
     {},
     200,
     check_longreq,
     [](const Message& r) { EXPECT_EQ(r.headers("Via").size(), 34u); }},
    {"dblreq", "3.1.1.8", {}, 405, check_dblreq},
    {"semiuri", "3.1.1.9", {}, 200, check_semiuri},
    {"transports", "3.1.1.10", {}, 200, check_transports},
    {"mpart01", "3.1.1.11", {}, 405, check_mpart01, has_allow},
    {"unreason", "3.1.1.12", {}, kSilent, check_unreason},  // no transaction: discarded
    {"noreason", "3.1.1.13", {}, kSilent, check_noreason},
    // §3.1.2 invalid messages: precise error, 400 (505) for requests, responses dropped
    {"badinv01", "3.1.2.1", Errc::bad_via, 400, nullptr, reason_is(Errc::bad_via)},
    {"clerr", "3.1.2.2", Errc::body_truncated, 400, nullptr, reason_is(Errc::body_truncated)},
    {"ncl", "3.1.2.3", Errc::bad_content_length, 400},
    {"scalar02", "3.1.2.4", Errc::bad_cseq, 400, nullptr, reason_is(Errc::bad_cseq)},
    {"scalarlg", "3.1.2.5", Errc::bad_cseq, kSilent},
    {"quotbal", "3.1.2.6", Errc::bad_to, 400, nullptr, reason_is(Errc::bad_to), 5050},
    {"ltgtruri", "3.1.2.7", Errc::bad_request_uri, 400},
    {"lwsruri", "3.1.2.8", Errc::bad_request_uri, 400},
    {"lwsstart", "3.1.2.9", Errc::bad_start_line, 400},
    {"trws", "3.1.2.10", Errc::bad_start_line, 400},
    {"escruri", "3.1.2.11", Errc::bad_request_uri, 400},
    {"baddate", "3.1.2.12", Errc::bad_date, 400, nullptr, reason_is(Errc::bad_date)},
    {"regbadct", "3.1.2.13", Errc::bad_contact, 400, nullptr, reason_is(Errc::bad_contact)},
    {"badaspec", "3.1.2.14", Errc::bad_to, 400},
    {"baddn", "3.1.2.15", Errc::bad_to, 400},
    {"badvers", "3.1.2.16", Errc::unsupported_version, 505},
    {"mismatch01", "3.1.2.17", Errc::cseq_method_mismatch, 400},
    {"mismatch02", "3.1.2.18", Errc::cseq_method_mismatch, 400},  // 400 allowed (or 501)
    {"multi01", "3.3.8", Errc::duplicate_header, 400},
    {"bigcode", "3.1.2.19", Errc::bad_status_code, kSilent},
    // §3.2 transaction layer
    {"badbranch", "3.2.1", {}, 200, check_badbranch},  // RFC 2543 matching fallback
    // §3.3 application layer (and §3.4.1)
    {"insuf", "3.3.1", Errc::missing_to, 400, nullptr, reason_is(Errc::missing_to)},
    {"unkscm", "3.3.2", {}, 416, check_unkscm},
    {"novelsc", "3.3.3", {}, 416, check_novelsc},
    {"unksm2", "3.3.4", {}, 405, check_unksm2, has_allow},
    {"bext01",
     "3.3.5",
     {},
     420,
     check_bext01,
     [](const Message& r) {
         EXPECT_EQ(
             r.headers("Unsupported"),
             (std::vector<std::string_view>{"nothingSupportsThis", "nothingSupportsThisEither"}));
     }},
    {"invut",
     "3.3.6",
     {},
     415,
     check_invut,
     [](const Message& r) { EXPECT_EQ(r.header("Accept"), "application/sdp"); }},
    {"regaut01", "3.3.7", {}, 405, check_regaut01, has_allow},
    {"mcl01", "3.3.9", Errc::duplicate_header, 400},
    {"bcast", "3.3.10", {}, kSilent, check_bcast},
    // §3.3.11: "An endpoint should process the request as if the Max-Forwards field value
    // were still positive" (483 is a proxy's answer).
    {"zeromf", "3.3.11", {}, 200, check_zeromf, has_allow},
    {"cparam01", "3.3.12", {}, 405, check_cparam01},
    {"cparam02", "3.3.13", {}, 405, check_cparam02},
    {"regescrt", "3.3.14", {}, 405, check_regescrt},
    {"sdp01", "3.3.15", {}, 406, check_sdp01},
    {"inv2543",
     "3.4.1",
     {},
     200,
     check_inv2543,
     [](const Message& r) {
         EXPECT_FALSE(r.to_tag().empty());
         EXPECT_EQ(r.body(), kAnswer);
     }},
};

class Rfc4475 : public ::testing::TestWithParam<Case> {};

TEST(Rfc4475Corpus, EveryFileHasACase) {
    // 49 messages; a file without a case here would go untested.
    std::size_t files = 0;
    for (const auto& c : kCases) files += !torture(c.name).empty();
    EXPECT_EQ(files, 49u);
    EXPECT_EQ(std::size(kCases), 49u);
}

TEST_P(Rfc4475, ParseAndUserAgentAnswer) {
    const Case& c = GetParam();
    SCOPED_TRACE("RFC 4475 §" + c.section + " " + c.name);
    const std::string bytes = torture(c.name);
    ASSERT_FALSE(bytes.empty()) << "missing ../shared/testdata/sip/rfc4475/" << c.name << ".dat";

    Message m;
    auto ec = parse_message(bytes, m);
    if (c.parse_error) {
        EXPECT_EQ(ec, *c.parse_error) << ec.message();
        EXPECT_FALSE(m.valid());
    } else {
        ASSERT_FALSE(ec) << ec.message();
        ASSERT_TRUE(m.valid());
    }
    if (c.check) c.check(m);

    // The same bytes, from a peer standing in for the Via host, to a real UserAgent.
    asio::io_context io;
    UaConfig cfg;
    cfg.aor = "sip:user@example.com";
    UserAgent ua(io, cfg);
    ASSERT_FALSE(ua.start());
    int incoming = 0;
    ua.on_incoming([&](std::shared_ptr<Session> s) {
        ++incoming;
        s->accept(kAnswer);
    });
    auto peer = RawPeer::on_port(io, c.reply_port);
    ASSERT_TRUE(peer) << "no free 127.0.0.N:" << c.reply_port;
    peer->send(bytes, ua.transactions()->transport().local_endpoint());
    const auto& stats = ua.transactions()->transport().stats();

    if (c.ua_status == kSilent) {
        ASSERT_TRUE(run_until(io, [&] { return stats.received == 1; }));
        run_for(io, std::chrono::milliseconds(200));
        EXPECT_TRUE(peer->received.empty()) << peer->received.front().data;
        EXPECT_EQ(stats.sent, 0u);
        return;
    }
    // The first final answer (a 100 Trying may come first for INVITE).
    Message answer;
    auto final_answer = [&] {
        for (const auto& d : peer->received) {
            Message r;
            (void)parse_message(d.data, r);
            if (r.status() >= 200) {
                answer = r;
                return true;
            }
        }
        return false;
    };
    ASSERT_TRUE(run_until(io, final_answer)) << "no answer from the UA";
    EXPECT_EQ(answer.status(), c.ua_status) << answer.start_line();
    // The answer copies the Vias (§8.2.6.2); the UA core sees them stamped with
    // received= (§18.2.1), a malformed request is answered before that.
    EXPECT_EQ(answer.headers("Via").size(), m.headers("Via").size());
    if (!c.parse_error) {
        EXPECT_NE(answer.header("Via").value_or("").find("received=127.0.0."),
                  std::string_view::npos);
    }
    if (m.is_request() && m.header("CSeq")) {
        EXPECT_EQ(answer.header("CSeq"), m.header("CSeq"));
    }
    EXPECT_EQ(incoming, c.ua_status == 200 && m.method() == "INVITE" ? 1 : 0);
    if (c.check_answer) c.check_answer(answer);
}

INSTANTIATE_TEST_SUITE_P(Messages, Rfc4475, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& info) {
                             return info.param.name;
                         });

// Not an RFC 4475 file: the largest UDP datagram (65507 octets over IPv4) is received,
// parsed and answered.
TEST(Rfc4475Extra, LargestUdpDatagramIsAnswered) {
    asio::io_context io;
    UserAgent ua(io, UaConfig{});
    ASSERT_FALSE(ua.start());
    RawPeer peer(io);
    std::string head =
        "OPTIONS sip:user@127.0.0.1 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:" +
        std::to_string(peer.port()) +
        ";branch=z9hG4bKbig;rport\r\n"
        "Max-Forwards: 70\r\nTo: <sip:user@127.0.0.1>\r\n"
        "From: <sip:big@127.0.0.1>;tag=1\r\nCall-ID: big\r\nCSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\nX-Padding: ";
    const std::size_t kMax = 65507;
    std::string msg = head + std::string(kMax - head.size() - 4, 'x') + "\r\n\r\n";
    ASSERT_EQ(msg.size(), kMax);
    peer.send(msg, ua.transactions()->transport().local_endpoint());
    ASSERT_TRUE(run_until(io, [&] { return !peer.received.empty(); }));
    Message r;
    ASSERT_FALSE(parse_message(peer.received[0].data, r));
    EXPECT_EQ(r.status(), 200);
    EXPECT_EQ(r.call_id(), "big");
}

}  // namespace
