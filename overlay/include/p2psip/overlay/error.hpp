#pragma once
#include <string>
#include <system_error>

namespace p2psip::overlay {

enum class errc {
    identity_io = 1,   // identity files could not be read or written
    identity_invalid,  // identity files exist but do not hold a usable key/certificate
    bad_record,        // a DHT value is not a valid p2psip record
    not_found,         // no valid binding for the AOR
    timeout,           // the DHT did not answer in time
    dht_failure,       // OpenDHT reported an error (bad bootstrap address, put refused...)
    bad_address,       // HOST:PORT could not be parsed
    name_taken,        // another key holds the AOR
    name_conflict,     // several keys claim the AOR and none is pinned
};

const std::error_category& overlay_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), overlay_category()};
}

}  // namespace p2psip::overlay

template <>
struct std::is_error_code_enum<p2psip::overlay::errc> : std::true_type {};
