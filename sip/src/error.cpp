#include "p2psip/sip/error.hpp"

#include <string>

namespace p2psip::sip {
namespace {

class Category final : public std::error_category {
  public:
    const char* name() const noexcept override { return "p2psip.sip"; }
    std::string message(int ev) const override {
        switch (static_cast<Errc>(ev)) {
            case Errc::bad_uri:
                return "Malformed URI";
            case Errc::unsupported_scheme:
                return "Unsupported URI scheme";
            case Errc::bad_uri_user:
                return "Malformed user part in URI";
            case Errc::bad_host:
                return "Malformed host in URI";
            case Errc::bad_port:
                return "Malformed port in URI";
            case Errc::bad_uri_param:
                return "Malformed URI parameter";
            case Errc::bad_escape:
                return "Malformed escape sequence";
            case Errc::bad_name_addr:
                return "Malformed name-addr";
            case Errc::empty_message:
                return "Empty message";
            case Errc::bad_start_line:
                return "Malformed start line";
            case Errc::bad_method:
                return "Malformed method";
            case Errc::bad_request_uri:
                return "Malformed Request-URI";
            case Errc::unsupported_version:
                return "Version Not Supported";
            case Errc::bad_status_code:
                return "Malformed status code";
            case Errc::bad_header:
                return "Malformed header line";
            case Errc::duplicate_header:
                return "Duplicate single-valued header";
            case Errc::missing_via:
                return "Missing Via header";
            case Errc::missing_to:
                return "Missing To header";
            case Errc::missing_from:
                return "Missing From header";
            case Errc::missing_call_id:
                return "Missing Call-ID header";
            case Errc::missing_cseq:
                return "Missing CSeq header";
            case Errc::bad_via:
                return "Malformed Via header";
            case Errc::bad_to:
                return "Malformed To header";
            case Errc::bad_from:
                return "Malformed From header";
            case Errc::bad_call_id:
                return "Malformed Call-ID header";
            case Errc::bad_cseq:
                return "Malformed CSeq header";
            case Errc::cseq_method_mismatch:
                return "CSeq method does not match request method";
            case Errc::bad_max_forwards:
                return "Malformed Max-Forwards header";
            case Errc::bad_content_length:
                return "Malformed Content-Length header";
            case Errc::body_truncated:
                return "Body shorter than Content-Length";
            case Errc::bad_contact:
                return "Malformed Contact header";
            case Errc::bad_date:
                return "Malformed Date header";
            case Errc::missing_content_length:
                return "Missing Content-Length header";
            case Errc::incomplete_message:
                return "Incomplete message";
            case Errc::sdp_bad_line:
                return "Malformed SDP line";
            case Errc::sdp_missing_field:
                return "Missing mandatory SDP field";
            case Errc::sdp_bad_origin:
                return "Malformed SDP origin";
            case Errc::sdp_bad_connection:
                return "Malformed SDP connection";
            case Errc::sdp_bad_media:
                return "Malformed SDP media description";
            case Errc::sdp_no_common_codec:
                return "No common codec";
            case Errc::sdp_no_audio:
                return "No audio stream in SDP";
            case Errc::not_open:
                return "Transport not open";
            case Errc::already_open:
                return "Transport already open";
            case Errc::bad_address:
                return "Bad address";
            case Errc::no_route:
                return "No route to destination";
            case Errc::invalid_state:
                return "Invalid state for this operation";
            case Errc::timeout:
                return "Timeout";
            case Errc::connection_failed:
                return "Connection failed";
            case Errc::connection_closed:
                return "Connection closed";
            case Errc::message_too_large:
                return "Message Too Large";
            case Errc::tls_failed:
                return "TLS failure";
            case Errc::bad_digest:
                return "Malformed or unsupported Digest authentication";
        }
        return "Unknown SIP error";
    }
};

}  // namespace

const std::error_category& sip_category() noexcept {
    static const Category c;
    return c;
}

std::error_code make_error_code(Errc e) noexcept {
    return {static_cast<int>(e), sip_category()};
}

}  // namespace p2psip::sip
