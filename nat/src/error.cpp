#include "p2psip/nat/error.hpp"

#include <string>

namespace p2psip::nat {
namespace {

class NatCategory final : public std::error_category {
  public:
    const char* name() const noexcept override { return "p2psip.nat"; }
    std::string message(int ev) const override {
        switch (static_cast<Errc>(ev)) {
            case Errc::malformed_candidate:
                return "malformed ICE candidate attribute";
            case Errc::unsupported_candidate:
                return "unsupported ICE candidate";
            case Errc::invalid_credentials:
                return "invalid ICE credentials";
            case Errc::invalid_address:
                return "invalid IP address";
            case Errc::invalid_config:
                return "invalid ICE configuration";
            case Errc::agent_init_failed:
                return "ICE agent initialisation failed";
            case Errc::gather_failed:
                return "ICE candidate gathering failed";
            case Errc::invalid_state:
                return "operation not allowed in this ICE state";
            case Errc::not_connected:
                return "ICE not connected";
            case Errc::send_failed:
                return "ICE send failed";
            case Errc::closed:
                return "ICE agent closed";
            case Errc::stun_timeout:
                return "STUN server did not answer";
            case Errc::stun_error:
                return "STUN server answered with an error";
        }
        return "unknown p2psip.nat error";
    }
};

}  // namespace

const std::error_category& nat_category() noexcept {
    static const NatCategory category;
    return category;
}

std::error_code make_error_code(Errc e) noexcept {
    return {static_cast<int>(e), nat_category()};
}

}  // namespace p2psip::nat
