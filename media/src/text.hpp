#pragma once

#include <string_view>

namespace p2psip::media::detail {

// SDP attribute values (a=crypto, a=fingerprint) without surrounding blanks or line ends.
inline std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() &&
           (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
        s.remove_suffix(1);
    return s;
}

}  // namespace p2psip::media::detail
