#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "p2psip/sip/uri.hpp"

namespace p2psip::sip {

struct HeaderField {
    std::string_view name;   // as received (may be a compact form)
    std::string_view value;  // trimmed; folded lines were unfolded into spaces
};

// One via-parm (RFC 3261 §20.42). Views point into the text that was parsed.
struct Via {
    std::string_view transport;  // "UDP", "TCP", ...
    std::string_view host;       // sent-by host, IPv6 without brackets
    uint16_t port = 0;           // sent-by port, 0 when absent
    std::string_view branch;     // "" when absent
    std::optional<std::string_view> received;
    bool has_rport = false;         // RFC 3581 rport present (with or without value)
    std::optional<uint16_t> rport;  // its value when filled in
    std::vector<std::pair<std::string_view, std::string_view>> params;
    std::string_view text;  // the whole via-parm

    std::optional<std::string_view> param(std::string_view name) const;
    std::string sent_by() const;  // host[:port], IPv6 bracketed
    // RFC 3261 §8.1.1.7 magic cookie followed by a unique part; a bare "z9hG4bK" falls back
    // to RFC 2543 matching (RFC 4475 §3.2.1).
    bool rfc3261_branch() const { return branch.size() > 7 && branch.substr(0, 7) == "z9hG4bK"; }
};
std::error_code parse_via(std::string_view via_parm, Via& out);

// How a message was delimited (RFC 3261 §18.3): a UDP datagram (Content-Length optional,
// octets beyond it discarded) or a stream (Content-Length mandatory, §20.14).
enum class Framing { datagram, stream };

struct CSeq {
    uint32_t number = 0;
    std::string_view method;
};

// Expands compact header names (RFC 3261 §7.3.3: i m f t v l c k s e, plus o r u b x ...).
std::string_view expand_header_name(std::string_view name);

// A parsed SIP message. It owns its (immutable, shared) receive buffer; every accessor
// returns views into it, valid as long as any copy of the Message lives. Copies are cheap.
class Message {
  public:
    bool is_request() const { return is_request_; }
    bool valid() const { return valid_; }  // parse_message succeeded

    // Requests
    std::string_view method() const { return method_; }
    std::string_view request_uri() const { return request_uri_; }
    // Responses
    int status() const { return status_; }
    std::string_view reason() const { return reason_; }

    std::string_view start_line() const { return start_line_; }
    const std::vector<HeaderField>& fields() const { return fields_; }
    // First header of that name (case-insensitive, compact forms mapped), whole value.
    std::optional<std::string_view> header(std::string_view name) const;
    // All values of that name in order; comma-separated lists are split for headers whose
    // grammar is a list (Via, Contact, Route, Record-Route, Allow, Supported, Require...).
    std::vector<std::string_view> headers(std::string_view name) const;
    bool has_header(std::string_view name) const { return header(name).has_value(); }

    std::string_view body() const { return body_; }
    std::string_view call_id() const { return call_id_; }
    const CSeq& cseq() const { return cseq_; }
    const Via& via() const { return via_; }             // top Via
    int max_forwards() const { return max_forwards_; }  // -1 when absent (RFC 2543 peers)

    // From / To / Contact parsed on demand (From/To validated by parse_message).
    NameAddr from() const;
    NameAddr to() const;
    std::optional<NameAddr> contact() const;  // first Contact, if parseable
    std::string from_tag() const;
    std::string to_tag() const;

    const std::string& raw() const;

  private:
    friend std::error_code parse_message(std::string data, Message& out, Framing framing);

    std::shared_ptr<const std::string> buf_;
    bool valid_ = false;
    bool is_request_ = false;
    std::string_view start_line_, method_, request_uri_, reason_;
    int status_ = 0;
    std::vector<HeaderField> fields_;
    std::string_view body_, call_id_;
    CSeq cseq_;
    Via via_;
    int max_forwards_ = -1;
};

// Parses one message (RFC 3261 §7, §18.3). On error, `out` still holds what could be
// parsed (start line and header fields) so that a UAS can answer a request with 400.
// The datagram overload is Framing::datagram.
std::error_code parse_message(std::string datagram, Message& out);
std::error_code parse_message(std::string data, Message& out, Framing framing);

// Stream framing (RFC 3261 §18.3): the length of the first message in `data` (leading
// CRLF keep-alives included), from its Content-Length. Errc::incomplete_message when more
// bytes are needed; missing_content_length, bad_content_length, duplicate_header (two
// Content-Length values) are unrecoverable framing errors.
std::error_code frame_stream_message(std::string_view data, std::size_t& length);

// Default reason phrase for a status code (RFC 3261 §21), "" if unknown.
std::string_view reason_phrase(int status);

// A message under construction: start line, ordered headers, body. Content-Length is
// computed by to_string().
class OutgoingMessage {
  public:
    OutgoingMessage() = default;
    static OutgoingMessage request(std::string method, std::string request_uri);
    static OutgoingMessage response(int status, std::string reason = {});

    bool is_request() const { return is_request_; }
    const std::string& method() const { return method_; }
    const std::string& request_uri() const { return request_uri_; }
    void set_request_uri(std::string uri) { request_uri_ = std::move(uri); }
    int status() const { return status_; }
    const std::string& reason() const { return reason_; }

    OutgoingMessage& add(std::string_view name, std::string value);        // append
    OutgoingMessage& add_front(std::string_view name, std::string value);  // prepend
    // Replaces the first header of that name (removing the others) or appends.
    OutgoingMessage& set(std::string_view name, std::string value);
    std::size_t remove(std::string_view name);
    std::optional<std::string_view> header(std::string_view name) const;
    const std::vector<std::pair<std::string, std::string>>& header_list() const { return headers_; }

    // Sets the body; Content-Type is set when `content_type` is not empty.
    OutgoingMessage& set_body(std::string body, std::string_view content_type = {});
    const std::string& body() const { return body_; }

    std::string to_string() const;

  private:
    bool is_request_ = true;
    std::string method_, request_uri_, reason_;
    int status_ = 0;
    std::vector<std::pair<std::string, std::string>> headers_;
    std::string body_;
};

// RFC 3261 §8.2.6: copies Via (all, in order), From, To, Call-ID, CSeq (and Timestamp for
// 100). `to_tag` is added to To when To has no tag and code > 100 (§8.2.6.2).
// Works on partially parsed requests: headers that are missing are not copied.
OutgoingMessage make_response(const Message& request, int code, std::string_view reason = {},
                              std::string_view to_tag = {});

}  // namespace p2psip::sip
