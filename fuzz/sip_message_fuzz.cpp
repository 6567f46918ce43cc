// libFuzzer target: the SIP message parser and everything that reads a parsed message
// (header lists, name-addr, Via, URIs, stream framing, lint, response building).
// Invariants are checked with __builtin_trap() so a violation is a crash the fuzzer keeps.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "p2psip/sip/lint.hpp"
#include "p2psip/sip/message.hpp"
#include "p2psip/sip/uri.hpp"

using namespace p2psip::sip;

namespace {

void check(bool ok) {
    if (!ok) __builtin_trap();
}

// Touches every accessor of a (possibly partially) parsed message.
void read_all(const Message& m) {
    for (const auto& f : m.fields()) {
        (void)m.headers(f.name);
        check(m.header(f.name).has_value());
    }
    for (auto v : m.headers("Via")) {
        Via via;
        if (!parse_via(v, via)) (void)via.sent_by();
    }
    for (auto c : m.headers("Contact")) {
        NameAddr na;
        (void)parse_name_addr(c, na);
        (void)na.to_string();
    }
    NameAddr from = m.from(), to = m.to();
    (void)from.to_string();
    (void)to.to_string();
    (void)canonical_aor(from.uri);
    (void)m.contact();
    Uri u;
    if (m.is_request() && !parse_uri(m.request_uri(), u)) {
        // A SIP URI prints to text that parses to the same URI.
        Uri back;
        check(!parse_uri(u.to_string(), back));
        check(back.to_string() == u.to_string());
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);

    Message m;
    auto ec = parse_message(std::string(in), m);
    check(m.valid() == !ec);
    read_all(m);
    if (!ec) {
        check(m.body().size() <= size);
        check(m.cseq().number < (1u << 31));
        check(m.max_forwards() >= -1 && m.max_forwards() <= 255);
        if (!m.is_request()) check(m.status() >= 100 && m.status() <= 699);
        // What a UAS sends back parses too (§8.2.6).
        if (m.is_request()) {
            std::string resp = make_response(m, 400, "Bad Request", "tag1").to_string();
            Message r;
            check(!parse_message(resp, r));
            check(r.status() == 400);
            check(r.call_id() == m.call_id());
        }
    }

    std::size_t len = 0;
    if (!frame_stream_message(in, len)) {
        check(len <= size);
        Message s;
        (void)parse_message(std::string(in.substr(0, len)), s, Framing::stream);
        read_all(s);
    }
    auto d = lint(in, Framing::datagram);
    check(d.ok == d.reason.empty());
    auto s = lint(in, Framing::stream);
    check(s.ok == s.reason.empty());

    // The URI and name-addr parsers on raw input as well.
    Uri u;
    (void)parse_uri(in, u);
    NameAddr na;
    (void)parse_name_addr(in, na);
    return 0;
}
