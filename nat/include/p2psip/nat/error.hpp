#pragma once

#include <system_error>

namespace p2psip::nat {

// Errors reported by the nat layer (category name "p2psip.nat").
enum class Errc {
    malformed_candidate = 1,  // a=candidate value does not follow RFC 8839 §5.1
    unsupported_candidate,    // well-formed but unusable here (unknown type, non-UDP, FQDN, ...)
    invalid_credentials,      // ice-ufrag / ice-pwd violate RFC 8839 §5.4
    invalid_address,          // not a numeric IPv4/IPv6 address
    invalid_config,           // IceConfig inconsistent (e.g. min_port > max_port)
    agent_init_failed,        // libnice refused to create the agent or stream
    gather_failed,            // gathering could not start or produced no candidate
    invalid_state,            // call not allowed in the current IceState
    not_connected,            // send() before ICE reached `connected`
    send_failed,              // libnice could not send the datagram
    closed,                   // the agent was closed
    stun_timeout,             // the STUN server did not answer (RFC 5389 §7.2.1)
    stun_error,               // the STUN server answered with an error response
};

const std::error_category& nat_category() noexcept;
std::error_code make_error_code(Errc e) noexcept;

}  // namespace p2psip::nat

template <>
struct std::is_error_code_enum<p2psip::nat::Errc> : std::true_type {};
