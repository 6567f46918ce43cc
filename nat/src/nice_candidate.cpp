#include "p2psip/nat/detail/nice_candidate.hpp"

#include <cstring>

#include "p2psip/nat/error.hpp"

namespace p2psip::nat::detail {
namespace {

bool type_from_name(const std::string& s, NiceCandidateType& t) {
    if (s == "host")
        t = NICE_CANDIDATE_TYPE_HOST;
    else if (s == "srflx")
        t = NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE;
    else if (s == "prflx")
        t = NICE_CANDIDATE_TYPE_PEER_REFLEXIVE;
    else if (s == "relay")
        t = NICE_CANDIDATE_TYPE_RELAYED;
    else
        return false;
    return true;
}

std::string address_string(const NiceAddress& addr) {
    char buf[NICE_ADDRESS_STRING_LEN] = {};
    nice_address_to_string(&addr, buf);
    return buf;
}

}  // namespace

const char* candidate_type_name(NiceCandidateType t) noexcept {
    switch (t) {
        case NICE_CANDIDATE_TYPE_HOST:
            return "host";
        case NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE:
            return "srflx";
        case NICE_CANDIDATE_TYPE_PEER_REFLEXIVE:
            return "prflx";
        case NICE_CANDIDATE_TYPE_RELAYED:
            return "relay";
    }
    return "host";
}

std::string format_endpoint(const NiceAddress& addr) {
    const auto ip = address_string(addr);
    const auto port = std::to_string(nice_address_get_port(&addr));
    if (nice_address_ip_version(&addr) == 6) return "[" + ip + "]:" + port;
    return ip + ":" + port;
}

std::error_code from_nice_candidate(const NiceCandidate& in, Candidate& out) {
    if (in.transport != NICE_CANDIDATE_TRANSPORT_UDP)
        return make_error_code(Errc::unsupported_candidate);
    Candidate c;
    c.foundation = std::string(in.foundation, strnlen(in.foundation, sizeof(in.foundation)));
    c.component = static_cast<int>(in.component_id);
    c.transport = "UDP";
    c.priority = in.priority;
    c.address = address_string(in.addr);
    c.port = static_cast<uint16_t>(nice_address_get_port(&in.addr));
    c.type = candidate_type_name(in.type);
    if (in.type != NICE_CANDIDATE_TYPE_HOST && nice_address_is_valid(&in.base_addr)) {
        c.related_address = address_string(in.base_addr);
        c.related_port = static_cast<uint16_t>(nice_address_get_port(&in.base_addr));
    }
    out = std::move(c);
    return {};
}

NiceCandidatePtr to_nice_candidate(const Candidate& in, unsigned stream_id, std::error_code& ec) {
    NiceCandidateType type;
    if (in.transport != "UDP" || !type_from_name(in.type, type) || in.component < 1 ||
        in.component > 256) {
        ec = make_error_code(Errc::unsupported_candidate);
        return nullptr;
    }
    if (in.foundation.empty() || in.foundation.size() >= NICE_CANDIDATE_MAX_FOUNDATION ||
        !is_ice_chars(in.foundation)) {
        ec = make_error_code(Errc::malformed_candidate);
        return nullptr;
    }
    NiceCandidatePtr c(nice_candidate_new(type));
    c->transport = NICE_CANDIDATE_TRANSPORT_UDP;
    c->stream_id = stream_id;
    c->component_id = static_cast<guint>(in.component);
    c->priority = in.priority;
    std::memcpy(c->foundation, in.foundation.data(), in.foundation.size());
    c->foundation[in.foundation.size()] = '\0';
    // libnice cannot resolve names; FQDN / mDNS candidates are not usable here.
    if (!nice_address_set_from_string(&c->addr, in.address.c_str())) {
        ec = make_error_code(Errc::invalid_address);
        return nullptr;
    }
    nice_address_set_port(&c->addr, in.port);
    if (!in.related_address.empty() &&
        nice_address_set_from_string(&c->base_addr, in.related_address.c_str())) {
        nice_address_set_port(&c->base_addr, in.related_port);
    }
    ec.clear();
    return c;
}

}  // namespace p2psip::nat::detail
