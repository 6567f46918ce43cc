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
    out.params.reserve(4);
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
        // RFC 4475 §3.1.2.19: 4294967301 must not wrap around into a valid code.
        if (code.size() != 3 || !parse_uint(code, c) || c < 100 || c > 699)
            return Errc::bad_status_code;
        status = c;
        reason = sp2 == std::string_view::npos ? std::string_view{} : rest.substr(sp2 + 1);
        return {};
    }
    // Request-Line = Method SP Request-URI SP SIP-Version CRLF (RFC 3261 §7.1): single SPs,
    // no LWS inside the Request-URI, nothing after the version (RFC 4475 §3.1.2.8-10).
    is_request = true;
    auto sp1 = line.find(' ');
    if (sp1 == std::string_view::npos) return Errc::bad_start_line;
    method = line.substr(0, sp1);
    if (!is_token(method)) return Errc::bad_method;
    auto last = line.rfind(' ');
    if (last == sp1) return Errc::bad_start_line;
    std::string_view version = line.substr(last + 1);
    ruri = line.substr(sp1 + 1, last - sp1 - 1);
    if (version.empty() || ruri.empty() || ruri.front() == ' ' || ruri.back() == ' ')
        return Errc::bad_start_line;
    if (!none_of_class(ruri, kWs)) return Errc::bad_request_uri;
    if (version.size() < 5 || !iequals(version.substr(0, 4), "SIP/")) return Errc::bad_start_line;
    if (!iequals(version, "SIP/2.0")) return Errc::unsupported_version;
    // Request-URI: any absolute URI; sip/sips must be valid and carry no headers (§19.1.1).
    bool has_headers = false;
    auto ec = check_uri(ruri, &has_headers);
    if (ec == Errc::unsupported_scheme) return {};
    if (ec || has_headers) return Errc::bad_request_uri;
    return {};
}

// Headers the parser checks, by full or compact name.
enum Known : int {
    kVia,
    kTo,
    kFrom,
    kCallId,
    kCSeq,
    kMaxForwards,
    kContentLength,
    kContentType,
    kContact,
    kDate,
    kKnownCount,
    kOther = kKnownCount
};

Known classify(std::string_view n) {
    switch (n.size()) {
        case 1:
            switch (lower(n[0])) {
                case 'v':
                    return kVia;
                case 't':
                    return kTo;
                case 'f':
                    return kFrom;
                case 'i':
                    return kCallId;
                case 'l':
                    return kContentLength;
                case 'c':
                    return kContentType;
                case 'm':
                    return kContact;
                default:
                    return kOther;
            }
        case 2:
            return iequals(n, "To") ? kTo : kOther;
        case 3:
            return iequals(n, "Via") ? kVia : kOther;
        case 4:
            if (iequals(n, "From")) return kFrom;
            if (iequals(n, "CSeq")) return kCSeq;
            if (iequals(n, "Date")) return kDate;
            return kOther;
        case 7:
            if (iequals(n, "Call-ID")) return kCallId;
            if (iequals(n, "Contact")) return kContact;
            return kOther;
        case 12:
            if (iequals(n, "Max-Forwards")) return kMaxForwards;
            if (iequals(n, "Content-Type")) return kContentType;
            return kOther;
        case 14:
            return iequals(n, "Content-Length") ? kContentLength : kOther;
        default:
            return kOther;
    }
}

// First element of a comma-separated header value (outside quotes and <>).
std::string_view first_element(std::string_view v) {
    int angle = 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
        char c = v[i];
        if (c == '"') {
            auto e = quoted_end(v.substr(i));
            if (e == std::string_view::npos) return v;
            i += e;
        } else if (c == '<') {
            ++angle;
        } else if (c == '>') {
            if (angle > 0) --angle;
        } else if (c == ',' && angle == 0) {
            return trim(v.substr(0, i));
        }
    }
    return v;
}

// SIP-date = rfc1123-date: wkday "," SP 2DIGIT SP month SP 4DIGIT SP time SP "GMT"
// (RFC 3261 §20.17, §25.1; RFC 4475 §3.1.2.12: other zones are invalid).
bool valid_sip_date(std::string_view d) {
    static constexpr std::string_view kDays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
    static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    // "Fri, 01 Jan 2010 16:00:00 GMT" is exactly 29 characters.
    if (d.size() != 29) return false;
    auto one_of = [](std::string_view s, const auto& list) {
        for (auto x : list)
            if (s == x) return true;
        return false;
    };
    auto digits = [&](std::size_t at, std::size_t n) {
        for (std::size_t i = at; i < at + n; ++i)
            if (!is_digit(d[i])) return false;
        return true;
    };
    return one_of(d.substr(0, 3), kDays) && d.substr(3, 2) == ", " && digits(5, 2) && d[7] == ' ' &&
           one_of(d.substr(8, 3), kMonths) && d[11] == ' ' && digits(12, 4) && d[16] == ' ' &&
           digits(17, 2) && d[19] == ':' && digits(20, 2) && d[22] == ':' && digits(23, 2) &&
           d.substr(25) == " GMT";
}

// Contact: "*" or a list of name-addr / addr-spec (RFC 3261 §20.10); in the addr-spec form
// a URI with '?' or ',' is invalid (RFC 4475 §3.1.2.13). Any absoluteURI scheme is allowed.
bool valid_contact(std::string_view v) {
    if (v == "*") return true;
    return for_each_element(v, ',', [](std::string_view part) {
        auto ec = check_name_addr(part);
        return !ec || ec == Errc::unsupported_scheme;
    });
}

// Header section end: index of the blank line's terminator. Returns false when there is none.
bool find_header_end(std::string_view b, std::size_t pos, std::size_t& hdr_end,
                     std::size_t& body_start) {
    for (std::size_t i = b.find('\n', pos); i != std::string_view::npos; i = b.find('\n', i + 1)) {
        if (i + 1 < b.size() && b[i + 1] == '\n') {
            hdr_end = i + 1;
            body_start = i + 2;
            return true;
        }
        if (i + 2 < b.size() && b[i + 1] == '\r' && b[i + 2] == '\n') {
            hdr_end = i + 1;
            body_start = i + 3;
            return true;
        }
    }
    return false;
}

std::size_t skip_leading_crlf(std::string_view b) {
    std::size_t pos = 0;
    while (pos < b.size() && (b[pos] == '\r' || b[pos] == '\n')) ++pos;
    return pos;
}

bool parse_content_length(std::string_view v, std::size_t& len) {
    return v.size() <= 10 && parse_uint(v, len);
}

}  // namespace

std::error_code frame_stream_message(std::string_view data, std::size_t& length) {
    length = 0;
    // RFC 3261 §7.5 / RFC 5626 §3.5.1: CRLFs between messages are keep-alives.
    std::size_t pos = skip_leading_crlf(data);
    std::size_t hdr_end = 0, body_start = 0;
    if (!find_header_end(data, pos, hdr_end, body_start)) return Errc::incomplete_message;
    std::optional<std::string_view> cl;
    std::size_t i = data.find('\n', pos);  // skip the start line
    while (i != std::string_view::npos && i + 1 < hdr_end) {
        std::size_t start = i + 1;
        std::size_t nl = data.find('\n', start);
        std::string_view line = data.substr(start, nl - start);
        i = nl;
        if (line.empty() || line.front() == ' ' || line.front() == '\t') continue;  // folded
        auto colon = line.find(':');
        if (colon == std::string_view::npos) continue;  // parse_message reports it
        if (classify(trim(line.substr(0, colon))) != kContentLength) continue;
        // §18.3: with two Content-Length values the extent of the body is unknown.
        if (cl) return Errc::duplicate_header;
        cl = trim(line.substr(colon + 1));
    }
    if (!cl) return Errc::missing_content_length;  // §20.14: MUST over streams
    std::size_t len = 0;
    if (!parse_content_length(*cl, len)) return Errc::bad_content_length;
    if (data.size() - body_start < len) return Errc::incomplete_message;
    length = body_start + len;
    return {};
}

std::error_code parse_message(std::string datagram, Message& out) {
    return parse_message(std::move(datagram), out, Framing::datagram);
}

std::error_code parse_message(std::string data, Message& out, Framing framing) {
    out = Message{};
    auto buf = std::make_shared<std::string>(std::move(data));
    out.buf_ = buf;
    std::string& b = *buf;

    // RFC 3261 §7.5: ignore CRLFs before the start line.
    std::size_t pos = skip_leading_crlf(b);
    if (pos >= b.size()) return Errc::empty_message;

    // One scan over the line ends: the header section ends at the first empty line (CRLF
    // CRLF; bare LF tolerated); note whether any line is folded. The first line ends are
    // kept so that the header loop below need not search for them again.
    std::size_t hdr_end = b.size(), body_start = b.size(), lines = 0;
    bool folded = false;
    constexpr std::size_t kCachedEnds = 128;
    std::array<uint32_t, kCachedEnds> ends;  // '\n' of header lines 1..n
    const std::size_t first_nl = b.find('\n', pos);
    for (std::size_t i = first_nl; i != std::string::npos; i = b.find('\n', i + 1)) {
        const char n1 = i + 1 < b.size() ? b[i + 1] : '\0';
        if (n1 == '\n') {
            hdr_end = i + 1;
            body_start = i + 2;
            break;
        }
        if (n1 == '\r' && i + 2 < b.size() && b[i + 2] == '\n') {
            hdr_end = i + 1;
            body_start = i + 3;
            break;
        }
        if ((n1 == ' ' || n1 == '\t') && i != first_nl) folded = true;
        if (lines < kCachedEnds) ends[lines] = static_cast<uint32_t>(i);
        ++lines;
    }
    // Unfold header continuation lines (RFC 3261 §7.3.1): the line break and the LWS around
    // it become one SP, so values read as written on one line. The start line is excluded.
    if (folded) {
        std::string c;
        c.reserve(b.size());
        std::size_t copied = 0;
        for (std::size_t i = b.find('\n', first_nl + 1); i != std::string::npos && i + 1 < hdr_end;
             i = b.find('\n', i + 1)) {
            if (b[i + 1] != ' ' && b[i + 1] != '\t') continue;
            c.append(b, copied, i - copied);
            while (!c.empty() && (c.back() == ' ' || c.back() == '\t' || c.back() == '\r'))
                c.pop_back();
            c += ' ';
            copied = i + 1;
            while (copied < hdr_end && (b[copied] == ' ' || b[copied] == '\t')) ++copied;
            i = copied - 1;
        }
        c.append(b, copied, hdr_end - copied);
        const std::size_t removed = hdr_end - c.size();
        c.append(b, hdr_end, std::string::npos);
        b = std::move(c);
        hdr_end -= removed;
        body_start -= removed;
    }
    const std::string_view all(b);

    // Line n (0 = start line) ends at ends[n] when that was recorded and still valid.
    const bool cached = !folded && lines <= kCachedEnds && b.size() <= UINT32_MAX;
    std::size_t line_no = 0;
    auto next_line = [&](std::size_t& i) {
        std::size_t nl;
        if (cached && line_no < lines) {
            nl = ends[line_no];
        } else {
            nl = all.find('\n', i);
            if (nl == std::string_view::npos || nl > hdr_end) nl = hdr_end;
        }
        ++line_no;
        std::string_view line = all.substr(i, nl - i);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        i = nl + 1;
        return line;
    };
    std::size_t i = pos;
    out.start_line_ = next_line(i);
    auto start_ec = parse_start_line(out.start_line_, out.is_request_, out.method_,
                                     out.request_uri_, out.status_, out.reason_);

    // Keep going on start-line errors so that header fields are available for a 400/505.
    std::string_view first[kKnownCount];
    int count[kKnownCount] = {};
    out.fields_.reserve(lines);
    while (i < hdr_end) {
        // message-header = field-name HCOLON field-value (LWS before the colon allowed)
        std::string_view line = next_line(i);
        std::size_t j = 0;
        while (j < line.size() && is_ws(line[j])) ++j;
        const std::size_t name_start = j;
        while (j < line.size() && is_token_char(line[j])) ++j;
        std::string_view name = line.substr(name_start, j - name_start);
        while (j < line.size() && (line[j] == ' ' || line[j] == '\t')) ++j;
        if (name.empty() && j == line.size()) continue;  // blank
        if (name.empty() || j == line.size() || line[j] != ':')
            return start_ec ? start_ec : Errc::bad_header;
        std::string_view value = trim(line.substr(j + 1));
        out.fields_.push_back({name, value});
        Known k = classify(name);
        if (k != kOther && count[k]++ == 0) first[k] = value;
    }
    if (start_ec) return start_ec;

    // Single-valued headers must appear once (RFC 3261 §7.3.1; RFC 4475 §3.1.2.19, §3.3.9).
    for (Known k : {kTo, kFrom, kCallId, kCSeq, kMaxForwards, kContentLength, kContentType})
        if (count[k] > 1) return Errc::duplicate_header;

    // Mandatory headers (RFC 3261 §8.1.1); Max-Forwards may be missing in RFC 2543 requests
    // (RFC 4475 §3.4.1: accepted, §16.3 treats it as passing the check).
    if (!count[kVia]) return Errc::missing_via;
    if (auto ec = parse_via(first_element(first[kVia]), out.via_)) return ec;
    if (!count[kTo]) return Errc::missing_to;
    if (!count[kFrom]) return Errc::missing_from;
    // To and From may hold any absoluteURI (RFC 4475 §3.3.4).
    if (auto ec = check_name_addr(first[kTo]); ec && ec != Errc::unsupported_scheme)
        return Errc::bad_to;
    if (auto ec = check_name_addr(first[kFrom]); ec && ec != Errc::unsupported_scheme)
        return Errc::bad_from;
    if (!count[kCallId]) return Errc::missing_call_id;
    std::string_view callid = first[kCallId];
    if (callid.empty() || !none_of_class(callid, kWs)) return Errc::bad_call_id;
    out.call_id_ = callid;
    if (!count[kCSeq]) return Errc::missing_cseq;
    {
        std::string_view c = first[kCSeq];
        std::size_t j = 0;
        while (j < c.size() && is_digit(c[j])) ++j;
        // CSeq number < 2**31 (RFC 3261 §8.1.1.5; RFC 4475 §3.1.2.4)
        uint64_t n = 0;
        if (j == 0 || j > 10 || !parse_uint(c.substr(0, j), n) || n >= (1ull << 31))
            return Errc::bad_cseq;
        std::string_view m = trim(c.substr(j));
        if (m.size() == c.size() - j || !is_token(m)) return Errc::bad_cseq;
        out.cseq_ = {static_cast<uint32_t>(n), m};
    }
    // §8.2 / RFC 4475 §3.1.2.17: compared octet by octet, escapes are not decoded.
    if (out.is_request_ && out.cseq_.method != out.method_) return Errc::cseq_method_mismatch;
    if (count[kMaxForwards]) {
        std::string_view mf = first[kMaxForwards];
        int v = 0;
        if (mf.size() > 10 || !parse_uint(mf, v) || v > 255) return Errc::bad_max_forwards;
        out.max_forwards_ = v;
    }
    if (count[kContact]) {
        for (const auto& f : out.fields_)
            if (classify(f.name) == kContact && !valid_contact(f.value)) return Errc::bad_contact;
    }
    if (count[kDate] && !valid_sip_date(first[kDate])) return Errc::bad_date;

    // Body framing (RFC 3261 §18.3): over UDP a missing Content-Length means the rest of the
    // datagram and octets beyond it are discarded; over a stream it is mandatory (§20.14).
    std::string_view body = body_start < b.size() ? all.substr(body_start) : std::string_view{};
    if (count[kContentLength]) {
        std::size_t len = 0;
        if (!parse_content_length(first[kContentLength], len)) return Errc::bad_content_length;
        if (len > body.size()) return Errc::body_truncated;
        body = body.substr(0, len);
    } else if (framing == Framing::stream) {
        return Errc::missing_content_length;
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
        case 407:
            return "Proxy Authentication Required";
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
        case 421:
            return "Extension Required";
        case 423:
            return "Interval Too Brief";
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
        case 502:
            return "Bad Gateway";
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
