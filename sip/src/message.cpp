#include "p2psip/sip/message.hpp"

#include <array>

#include "p2psip/sip/error.hpp"
#include "text.hpp"

namespace p2psip::sip {
using namespace detail;

namespace {

// Headers whose grammar is a comma-separated list (RFC 3261 §7.3.1, §20).
bool is_list_header(std::string_view full) {
    static constexpr std::array<std::string_view, 19> kList = {"Via",
                                                               "Contact",
                                                               "Route",
                                                               "Record-Route",
                                                               "Allow",
                                                               "Supported",
                                                               "Require",
                                                               "Proxy-Require",
                                                               "Unsupported",
                                                               "Accept",
                                                               "Accept-Encoding",
                                                               "Accept-Language",
                                                               "Content-Encoding",
                                                               "Content-Language",
                                                               "Allow-Events",
                                                               "In-Reply-To",
                                                               "Alert-Info",
                                                               "Call-Info",
                                                               "Error-Info"};
    for (auto n : kList)
        if (iequals(n, full)) return true;
    return false;
}

bool header_is(const HeaderField& f, std::string_view full) {
    return iequals(expand_header_name(f.name), full);
}

}  // namespace

std::string_view expand_header_name(std::string_view name) {
    if (name.size() != 1) return name;
    switch (lower(name[0])) {
        case 'i':
            return "Call-ID";
        case 'm':
            return "Contact";
        case 'f':
            return "From";
        case 't':
            return "To";
        case 'v':
            return "Via";
        case 'l':
            return "Content-Length";
        case 'c':
            return "Content-Type";
        case 'k':
            return "Supported";
        case 's':
            return "Subject";
        case 'e':
            return "Content-Encoding";
        case 'o':
            return "Event";
        case 'r':
            return "Refer-To";
        case 'u':
            return "Allow-Events";
        case 'b':
            return "Referred-By";
        case 'x':
            return "Session-Expires";
        default:
            return name;
    }
}

// ---------------------------------------------------------------- Via

std::optional<std::string_view> Via::param(std::string_view name) const {
    for (const auto& [n, v] : params)
        if (iequals(n, name)) return v;
    return std::nullopt;
}

std::string Via::sent_by() const {
    std::string r = host.find(':') != std::string_view::npos ? "[" + std::string(host) + "]"
                                                             : std::string(host);
    if (port) r += ":" + std::to_string(port);
    return r;
}

std::error_code parse_via(std::string_view s, Via& out) {
    out = Via{};
    out.text = trim(s);
    s = out.text;
    // sent-protocol = protocol-name SLASH protocol-version SLASH transport (LWS around SLASH)
    std::string_view parts[3];
    for (int i = 0; i < 3; ++i) {
        s = trim(s);
        std::size_t j = 0;
        while (j < s.size() && is_token_char(s[j])) ++j;
        if (j == 0) return Errc::bad_via;
        parts[i] = s.substr(0, j);
        s = trim(s.substr(j));
        if (i < 2) {
            if (s.empty() || s.front() != '/') return Errc::bad_via;
            s.remove_prefix(1);
        }
    }
    if (!iequals(parts[0], "SIP") || parts[1] != "2.0") return Errc::bad_via;
    out.transport = parts[2];
    // sent-by = host [ COLON port ]
    if (s.empty()) return Errc::bad_via;
    if (s.front() == '[') {
        auto rb = s.find(']');
        if (rb == std::string_view::npos) return Errc::bad_via;
        out.host = s.substr(1, rb - 1);
        s.remove_prefix(rb + 1);
    } else {
        std::size_t j = 0;
        while (j < s.size() && (is_alnum(s[j]) || s[j] == '-' || s[j] == '.')) ++j;
        if (j == 0) return Errc::bad_via;
        out.host = s.substr(0, j);
        s.remove_prefix(j);
    }
    s = trim(s);
    if (!s.empty() && s.front() == ':') {
        s = trim(s.substr(1));
        std::size_t j = 0;
        while (j < s.size() && is_digit(s[j])) ++j;
        uint32_t port = 0;
        if (!parse_uint(s.substr(0, j), port) || port == 0 || port > 65535) return Errc::bad_via;
        out.port = static_cast<uint16_t>(port);
        s.remove_prefix(j);
    }
    if (!parse_params(s, out.params)) return Errc::bad_via;
    for (const auto& [n, v] : out.params) {
        if (iequals(n, "branch")) {
            if (v.empty()) return Errc::bad_via;
            out.branch = v;
        } else if (iequals(n, "received")) {
            out.received = v;
        } else if (iequals(n, "rport")) {
            out.has_rport = true;
            if (!v.empty()) {
                uint32_t p = 0;
                if (!parse_uint(v, p) || p == 0 || p > 65535) return Errc::bad_via;
                out.rport = static_cast<uint16_t>(p);
            }
        }
    }
    return {};
}

// ---------------------------------------------------------------- Message

std::optional<std::string_view> Message::header(std::string_view name) const {
    std::string_view full = expand_header_name(name);
    for (const auto& f : fields_)
        if (header_is(f, full)) return f.value;
    return std::nullopt;
}

std::vector<std::string_view> Message::headers(std::string_view name) const {
    std::string_view full = expand_header_name(name);
    bool list = is_list_header(full);
    std::vector<std::string_view> r;
    for (const auto& f : fields_) {
        if (!header_is(f, full)) continue;
        if (list) {
            for (auto part : split_outside_quotes(f.value, ','))
                if (!part.empty()) r.push_back(part);
        } else {
            r.push_back(f.value);
        }
    }
    return r;
}

const std::string& Message::raw() const {
    static const std::string empty;
    return buf_ ? *buf_ : empty;
}

NameAddr Message::from() const {
    NameAddr na;
    if (auto h = header("From")) (void)parse_name_addr(*h, na);
    return na;
}

NameAddr Message::to() const {
    NameAddr na;
    if (auto h = header("To")) (void)parse_name_addr(*h, na);
    return na;
}

std::optional<NameAddr> Message::contact() const {
    auto all = headers("Contact");
    if (all.empty()) return std::nullopt;
    NameAddr na;
    if (parse_name_addr(all.front(), na)) return std::nullopt;
    return na;
}

std::string Message::from_tag() const {
    return from().tag().value_or("");
}
std::string Message::to_tag() const {
    return to().tag().value_or("");
}

namespace {

std::error_code parse_start_line(std::string_view line, bool& is_request, std::string_view& method,
                                 std::string_view& ruri, int& status, std::string_view& reason) {
    if (line.size() > 4 && iequals(line.substr(0, 4), "SIP/")) {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (RFC 3261 §7.2)
        is_request = false;
        auto sp = line.find(' ');
        if (sp == std::string_view::npos) return Errc::bad_start_line;
        if (!iequals(line.substr(0, sp), "SIP/2.0")) return Errc::unsupported_version;
        std::string_view rest = line.substr(sp + 1);
        auto sp2 = rest.find(' ');
        std::string_view code = rest.substr(0, sp2);
        int c = 0;
        if (code.size() != 3 || !parse_uint(code, c) || c < 100 || c > 699)
            return Errc::bad_status_code;
        status = c;
        reason = sp2 == std::string_view::npos ? std::string_view{} : rest.substr(sp2 + 1);
        return {};
    }
    // Request-Line = Method SP Request-URI SP SIP-Version (RFC 3261 §7.1), single SPs
    is_request = true;
    auto sp1 = line.find(' ');
    if (sp1 == std::string_view::npos) return Errc::bad_start_line;
    method = line.substr(0, sp1);
    if (!is_token(method)) return Errc::bad_method;
    auto sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos) return Errc::bad_start_line;
    ruri = line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string_view version = line.substr(sp2 + 1);
    if (ruri.empty() || version.find(' ') != std::string_view::npos) return Errc::bad_request_uri;
    if (version.size() < 5 || !iequals(version.substr(0, 4), "SIP/")) return Errc::bad_start_line;
    if (!iequals(version, "SIP/2.0")) return Errc::unsupported_version;
    // Request-URI: any absolute URI; sip/sips must be valid and carry no headers (§19.1.1).
    Uri u;
    auto ec = parse_uri(ruri, u);
    if (ec == Errc::unsupported_scheme) return {};
    if (ec || !u.headers.empty()) return Errc::bad_request_uri;
    return {};
}

}  // namespace

std::error_code parse_message(std::string datagram, Message& out) {
    out = Message{};
    auto buf = std::make_shared<std::string>(std::move(datagram));
    out.buf_ = buf;
    std::string& b = *buf;

    // RFC 3261 §7.5: ignore CRLFs before the start line.
    std::size_t pos = 0;
    while (pos < b.size() && (b[pos] == '\r' || b[pos] == '\n')) ++pos;
    if (pos >= b.size()) return Errc::empty_message;

    // Header section ends at the first empty line (CRLF CRLF; bare LF tolerated).
    std::size_t hdr_end = b.size(), body_start = b.size();
    for (std::size_t i = pos; i < b.size(); ++i) {
        if (b[i] != '\n') continue;
        if (i + 1 < b.size() && b[i + 1] == '\n') {
            hdr_end = i + 1;
            body_start = i + 2;
            break;
        }
        if (i + 2 < b.size() && b[i + 1] == '\r' && b[i + 2] == '\n') {
            hdr_end = i + 1;
            body_start = i + 3;
            break;
        }
    }
    // Unfold header continuation lines into spaces (RFC 3261 §7.3.1), start line excluded.
    std::size_t first_nl = b.find('\n', pos);
    for (std::size_t i = first_nl; i != std::string::npos && i + 1 < hdr_end; ++i) {
        if (b[i] == '\n' && (b[i + 1] == ' ' || b[i + 1] == '\t')) {
            b[i] = ' ';
            if (i > 0 && b[i - 1] == '\r') b[i - 1] = ' ';
        }
    }

    const std::string_view all(b);
    std::vector<std::string_view> lines;
    for (std::size_t i = pos; i < hdr_end;) {
        std::size_t nl = all.find('\n', i);
        if (nl == std::string_view::npos || nl > hdr_end) nl = hdr_end;
        std::string_view line = all.substr(i, nl - i);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        lines.push_back(line);
        i = nl + 1;
    }
    if (lines.empty()) return Errc::empty_message;
    out.start_line_ = lines.front();
    auto start_ec = parse_start_line(out.start_line_, out.is_request_, out.method_,
                                     out.request_uri_, out.status_, out.reason_);
    // Keep going on start-line errors so that header fields are available for a 400/505.
    for (std::size_t i = 1; i < lines.size(); ++i) {
        std::string_view line = lines[i];
        if (trim(line).empty()) continue;
        auto colon = line.find(':');
        if (colon == std::string_view::npos) return start_ec ? start_ec : Errc::bad_header;
        std::string_view name = trim(line.substr(0, colon));
        if (!is_token(name)) return start_ec ? start_ec : Errc::bad_header;
        out.fields_.push_back({name, trim(line.substr(colon + 1))});
    }
    if (start_ec) return start_ec;

    auto count = [&](std::string_view full) {
        int n = 0;
        for (const auto& f : out.fields_)
            if (header_is(f, full)) ++n;
        return n;
    };
    // Single-valued headers must appear once (RFC 3261 §7.3.1; RFC 4475 §3.1.2.19).
    for (std::string_view h :
         {"To", "From", "Call-ID", "CSeq", "Max-Forwards", "Content-Length", "Content-Type"})
        if (count(h) > 1) return Errc::duplicate_header;

    // Mandatory headers (RFC 3261 §8.1.1).
    auto vias = out.headers("Via");
    if (vias.empty()) return Errc::missing_via;
    if (auto ec = parse_via(vias.front(), out.via_)) return ec;
    auto to = out.header("To");
    if (!to) return Errc::missing_to;
    auto from = out.header("From");
    if (!from) return Errc::missing_from;
    NameAddr na;
    if (auto ec = parse_name_addr(*to, na); ec && ec != Errc::unsupported_scheme)
        return Errc::bad_to;
    if (auto ec = parse_name_addr(*from, na); ec && ec != Errc::unsupported_scheme)
        return Errc::bad_from;
    auto callid = out.header("Call-ID");
    if (!callid) return Errc::missing_call_id;
    if (callid->empty() || callid->find_first_of(" \t") != std::string_view::npos)
        return Errc::bad_call_id;
    out.call_id_ = *callid;
    auto cseq = out.header("CSeq");
    if (!cseq) return Errc::missing_cseq;
    {
        std::string_view c = *cseq;
        std::size_t j = 0;
        while (j < c.size() && is_digit(c[j])) ++j;
        // CSeq number < 2**31 (RFC 3261 §8.1.1.5)
        uint64_t n = 0;
        if (j == 0 || j > 10 || !parse_uint(c.substr(0, j), n) || n >= (1ull << 31))
            return Errc::bad_cseq;
        std::string_view m = trim(c.substr(j));
        if (m.size() == c.size() - j || !is_token(m)) return Errc::bad_cseq;
        out.cseq_ = {static_cast<uint32_t>(n), m};
    }
    if (out.is_request_ && out.cseq_.method != out.method_) return Errc::cseq_method_mismatch;
    if (auto mf = out.header("Max-Forwards")) {
        int v = 0;
        if (mf->size() > 10 || !parse_uint(*mf, v) || v > 255) return Errc::bad_max_forwards;
        out.max_forwards_ = v;
    } else if (out.is_request_) {
        return Errc::missing_max_forwards;
    }

    // Body framing for UDP (RFC 3261 §18.3).
    std::string_view body = body_start < b.size() ? all.substr(body_start) : std::string_view{};
    if (auto cl = out.header("Content-Length")) {
        std::size_t len = 0;
        if (cl->size() > 10 || !parse_uint(*cl, len)) return Errc::bad_content_length;
        if (len > body.size()) return Errc::body_truncated;
        body = body.substr(0, len);
    }
    out.body_ = body;
    out.valid_ = true;
    return {};
}

// ---------------------------------------------------------------- outgoing

std::string_view reason_phrase(int status) {
    switch (status) {
        case 100:
            return "Trying";
        case 180:
            return "Ringing";
        case 181:
            return "Call Is Being Forwarded";
        case 182:
            return "Queued";
        case 183:
            return "Session Progress";
        case 200:
            return "OK";
        case 202:
            return "Accepted";
        case 300:
            return "Multiple Choices";
        case 301:
            return "Moved Permanently";
        case 302:
            return "Moved Temporarily";
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 406:
            return "Not Acceptable";
        case 408:
            return "Request Timeout";
        case 410:
            return "Gone";
        case 413:
            return "Request Entity Too Large";
        case 415:
            return "Unsupported Media Type";
        case 416:
            return "Unsupported URI Scheme";
        case 420:
            return "Bad Extension";
        case 480:
            return "Temporarily Unavailable";
        case 481:
            return "Call/Transaction Does Not Exist";
        case 482:
            return "Loop Detected";
        case 483:
            return "Too Many Hops";
        case 484:
            return "Address Incomplete";
        case 486:
            return "Busy Here";
        case 487:
            return "Request Terminated";
        case 488:
            return "Not Acceptable Here";
        case 491:
            return "Request Pending";
        case 500:
            return "Server Internal Error";
        case 501:
            return "Not Implemented";
        case 503:
            return "Service Unavailable";
        case 504:
            return "Server Time-out";
        case 505:
            return "Version Not Supported";
        case 600:
            return "Busy Everywhere";
        case 603:
            return "Decline";
        case 604:
            return "Does Not Exist Anywhere";
        case 606:
            return "Not Acceptable";
        default:
            return "";
    }
}

OutgoingMessage OutgoingMessage::request(std::string method, std::string request_uri) {
    OutgoingMessage m;
    m.is_request_ = true;
    m.method_ = std::move(method);
    m.request_uri_ = std::move(request_uri);
    return m;
}

OutgoingMessage OutgoingMessage::response(int status, std::string reason) {
    OutgoingMessage m;
    m.is_request_ = false;
    m.status_ = status;
    m.reason_ = reason.empty() ? std::string(reason_phrase(status)) : std::move(reason);
    return m;
}

OutgoingMessage& OutgoingMessage::add(std::string_view name, std::string value) {
    headers_.emplace_back(std::string(name), std::move(value));
    return *this;
}

OutgoingMessage& OutgoingMessage::add_front(std::string_view name, std::string value) {
    headers_.insert(headers_.begin(), {std::string(name), std::move(value)});
    return *this;
}

OutgoingMessage& OutgoingMessage::set(std::string_view name, std::string value) {
    std::string_view full = expand_header_name(name);
    bool done = false;
    for (auto it = headers_.begin(); it != headers_.end();) {
        if (iequals(expand_header_name(it->first), full)) {
            if (!done) {
                it->second = std::move(value);
                done = true;
                ++it;
            } else {
                it = headers_.erase(it);
            }
        } else {
            ++it;
        }
    }
    if (!done) add(name, std::move(value));
    return *this;
}

std::size_t OutgoingMessage::remove(std::string_view name) {
    std::string_view full = expand_header_name(name);
    return std::erase_if(headers_,
                         [&](const auto& h) { return iequals(expand_header_name(h.first), full); });
}

std::optional<std::string_view> OutgoingMessage::header(std::string_view name) const {
    std::string_view full = expand_header_name(name);
    for (const auto& [n, v] : headers_)
        if (iequals(expand_header_name(n), full)) return std::string_view(v);
    return std::nullopt;
}

OutgoingMessage& OutgoingMessage::set_body(std::string body, std::string_view content_type) {
    body_ = std::move(body);
    if (!content_type.empty()) set("Content-Type", std::string(content_type));
    return *this;
}

std::string OutgoingMessage::to_string() const {
    std::string r;
    r.reserve(512 + body_.size());
    if (is_request_) {
        r += method_ + " " + request_uri_ + " SIP/2.0\r\n";
    } else {
        r += "SIP/2.0 " + std::to_string(status_) + " " + reason_ + "\r\n";
    }
    for (const auto& [n, v] : headers_) {
        if (iequals(expand_header_name(n), "Content-Length")) continue;
        r += n + ": " + v + "\r\n";
    }
    r += "Content-Length: " + std::to_string(body_.size()) + "\r\n\r\n";
    r += body_;
    return r;
}

OutgoingMessage make_response(const Message& req, int code, std::string_view reason,
                              std::string_view to_tag) {
    OutgoingMessage r = OutgoingMessage::response(code, std::string(reason));
    for (const auto& f : req.fields()) {
        auto full = expand_header_name(f.name);
        if (iequals(full, "Via") || iequals(full, "From") || iequals(full, "Call-ID") ||
            iequals(full, "CSeq") || (code == 100 && iequals(full, "Timestamp"))) {
            r.add(full, std::string(f.value));
        } else if (iequals(full, "To")) {
            std::string to(f.value);
            NameAddr na;
            // §8.2.6.2: add a tag unless one is present (or the response is a 100).
            if (code > 100 && !to_tag.empty() && !parse_name_addr(to, na) && !na.tag())
                to += ";tag=" + std::string(to_tag);
            r.add("To", std::move(to));
        }
    }
    return r;
}

}  // namespace p2psip::sip
