#include "p2psip/sip/lint.hpp"

#include "p2psip/sip/error.hpp"
#include "p2psip/sip/sdp.hpp"
#include "text.hpp"

namespace p2psip::sip {

namespace {

// Printable form: bytes outside 0x21..0x7e become \xNN (a summary goes to a terminal).
void append_printable(std::string& out, std::string_view text) {
    static const char* hex = "0123456789abcdef";
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        if (u > 0x20 && u < 0x7f) {
            out += c;
        } else {
            out += "\\x";
            out += hex[u >> 4];
            out += hex[u & 15];
        }
    }
}

std::string summarize(const Message& m) {
    std::string s;
    if (m.is_request()) {
        append_printable(s, m.method());
    } else {
        s = std::to_string(m.status());
    }
    std::string_view call_id = m.call_id();
    if (call_id.empty()) call_id = m.header("Call-ID").value_or("");
    if (!call_id.empty()) {
        s += " call-id=";
        append_printable(s, call_id);
    }
    s += " body=" + std::to_string(m.body().size());
    return s;
}

// Parses one message; fills `summary` and returns the reason it is invalid, if it is.
std::string check_one(std::string_view bytes, Framing framing, std::string& summary) {
    Message m;
    auto ec = parse_message(std::string(bytes), m, framing);
    if (m.is_request() || m.status() != 0) summary = summarize(m);
    if (ec) return ec.message();
    auto type = m.header("Content-Type").value_or("");
    type = detail::trim(type.substr(0, type.find(';')));
    if (!m.body().empty() && detail::iequals(type, "application/sdp")) {
        sdp::SessionDescription sd;
        if (auto sec = sdp::parse(m.body(), sd)) return "SDP body: " + sec.message();
    }
    return {};
}

}  // namespace

LintResult lint(std::string_view bytes, Framing framing) {
    LintResult r;
    if (framing == Framing::datagram) {
        std::string reason = check_one(bytes, framing, r.summary);
        r.ok = reason.empty();
        r.reason = std::move(reason);
        if (r.ok) {
            // §18.3: octets after Content-Length are not part of the message.
            Message m;
            (void)parse_message(std::string(bytes), m);
            const std::size_t end =
                static_cast<std::size_t>(m.body().data() - m.raw().data()) + m.body().size();
            if (end < m.raw().size())
                r.summary += " (" + std::to_string(m.raw().size() - end) +
                             " octets after Content-Length discarded)";
        }
        return r;
    }
    std::size_t index = 0;
    while (true) {
        std::size_t crlf = 0;
        while (crlf < bytes.size() && (bytes[crlf] == '\r' || bytes[crlf] == '\n')) ++crlf;
        if (crlf == bytes.size()) break;  // only keep-alives left
        ++index;
        const std::string prefix = index > 1 ? "message " + std::to_string(index) + ": " : "";
        std::size_t len = 0;
        if (auto ec = frame_stream_message(bytes, len)) {
            // Say what the message looks like even when it cannot be framed.
            std::string summary;
            (void)check_one(bytes, Framing::datagram, summary);
            if (!summary.empty()) r.summary += (r.summary.empty() ? "" : "; ") + summary;
            r.reason = prefix + ec.message();
            return r;
        }
        std::string summary;
        std::string reason = check_one(bytes.substr(0, len), Framing::stream, summary);
        r.summary += (r.summary.empty() ? "" : "; ") + summary;
        if (!reason.empty()) {
            r.reason = prefix + reason;
            return r;
        }
        bytes.remove_prefix(len);
    }
    if (index == 0) {
        r.reason = make_error_code(Errc::empty_message).message();
        return r;
    }
    r.ok = true;
    return r;
}

}  // namespace p2psip::sip
