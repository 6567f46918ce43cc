#pragma once
// Private to p2psip_nat (and its tests): conversion between Candidate and libnice's NiceCandidate.
// Includes libnice/GLib headers, so do not include it from public headers.

#include <agent.h>

#include <cstdint>
#include <memory>
#include <string>
#include <system_error>

#include "p2psip/nat/candidate.hpp"

namespace p2psip::nat::detail {

struct NiceCandidateDeleter {
    void operator()(NiceCandidate* c) const noexcept { nice_candidate_free(c); }
};
using NiceCandidatePtr = std::unique_ptr<NiceCandidate, NiceCandidateDeleter>;

// NiceCandidate -> Candidate. The related address is taken from base_addr for non-host
// candidates, as libnice does when writing SDP. Errc::unsupported_candidate for TCP candidates.
std::error_code from_nice_candidate(const NiceCandidate& in, Candidate& out);

// Candidate -> newly allocated NiceCandidate for `stream_id`. Only UDP candidates with a numeric
// IP address are accepted (Errc::unsupported_candidate / Errc::invalid_address otherwise).
NiceCandidatePtr to_nice_candidate(const Candidate& in, unsigned stream_id, std::error_code& ec);

// "host" / "srflx" / "prflx" / "relay".
const char* candidate_type_name(NiceCandidateType type) noexcept;

// "127.0.0.1:5000" or "[::1]:5000".
std::string format_endpoint(const NiceAddress& addr);

}  // namespace p2psip::nat::detail
