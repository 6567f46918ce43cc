#pragma once

#include <string>
#include <string_view>

#include "p2psip/sip/message.hpp"  // Framing

namespace p2psip::sip {

// Outcome of checking raw bytes as SIP (what `p2psip sip-lint` prints).
struct LintResult {
    bool ok = false;
    // One line per message, "; "-joined: method or status code, Call-ID, body length, e.g.
    // "INVITE call-id=a84b4c76e66710 body=142". Filled as far as parsing got.
    std::string summary;
    // Why the bytes are not valid SIP (empty when ok), e.g. "Malformed Date header";
    // "message 2: ..." when a later message of a stream is the bad one.
    std::string reason;
};

// Checks `bytes` with the framing rules of RFC 3261 §18.3:
//   datagram: one message; without Content-Length the body is the rest of the datagram,
//             octets beyond Content-Length are discarded (and said so in the summary);
//   stream:   one or more messages back to back, each with a Content-Length (§20.14);
//             CRLF keep-alives between them are allowed.
// Every message must parse (parse_message's rules), and an application/sdp body must be
// valid SDP (RFC 4566).
LintResult lint(std::string_view bytes, Framing framing);

}  // namespace p2psip::sip
