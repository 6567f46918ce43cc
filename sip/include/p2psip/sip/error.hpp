#pragma once

#include <string_view>
#include <system_error>

namespace p2psip::sip {

// Errors of the SIP layer. Parse errors are precise so that a UAS can put them in the
// reason phrase of a 400 (RFC 3261 §8.2, §21.4.1).
enum class Errc {
    // URI / name-addr (RFC 3261 §19.1, §20.10)
    bad_uri = 1,
    unsupported_scheme,
    bad_uri_user,
    bad_host,
    bad_port,
    bad_uri_param,
    bad_escape,
    bad_name_addr,
    // Message framing and start line (RFC 3261 §7, §18.3)
    empty_message,
    bad_start_line,
    bad_method,
    bad_request_uri,
    unsupported_version,
    bad_status_code,
    bad_header,
    duplicate_header,
    missing_via,
    missing_to,
    missing_from,
    missing_call_id,
    missing_cseq,
    bad_via,
    bad_to,
    bad_from,
    bad_call_id,
    bad_cseq,
    cseq_method_mismatch,
    bad_max_forwards,
    bad_content_length,
    body_truncated,
    bad_contact,
    bad_date,
    missing_content_length,  // stream framing (RFC 3261 §18.3, §20.14)
    incomplete_message,      // stream framing: more bytes needed
    // SDP (RFC 4566)
    sdp_bad_line,
    sdp_missing_field,
    sdp_bad_origin,
    sdp_bad_connection,
    sdp_bad_media,
    sdp_no_common_codec,
    sdp_no_audio,
    // Transport / transactions / UA
    not_open,
    already_open,
    bad_address,
    no_route,
    invalid_state,
    timeout,
    // Stream transports (RFC 3261 §18)
    connection_failed,  // connect() failed or the connection broke before the send
    connection_closed,
    message_too_large,  // above the transport's message size limit (513, §21.5.14)
    tls_failed,         // TLS handshake or credentials
    // Authentication (RFC 3261 §22, RFC 8760)
    bad_digest,  // malformed or unsupported Digest challenge / credentials
};

const std::error_category& sip_category() noexcept;
std::error_code make_error_code(Errc e) noexcept;

}  // namespace p2psip::sip

template <>
struct std::is_error_code_enum<p2psip::sip::Errc> : std::true_type {};
