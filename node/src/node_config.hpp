#pragma once
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace p2psip::node {

// A local SIP account a phone on the LAN registers with (gateway.hpp).
struct AccountOptions {
    std::string aor;       // canonical, e.g. sip:alice@example.org: published in the DHT
    std::string username;  // digest user name; default: the AOR's user part
    std::string password;
};

// The node as registrar and B2BUA for plain SIP phones (docs/user-guide.md "Plain SIP
// phones"). Off unless the config file names accounts.
struct GatewayOptions {
    std::string listen;  // "IP:PORT" the registrar binds; default: the LAN address, port 5070
    std::string realm = "p2psip";
    unsigned max_failures = 5;     // failed authentications per source within a minute...
    unsigned block_seconds = 300;  // ...then that source is refused this long
    unsigned max_expires = 3600;
    unsigned min_expires = 60;
    bool phone_srtp = true;  // offer SDES-SRTP to phones (else plain RTP on the LAN leg)
    // Digest algorithms offered in challenges, in order (RFC 8760 §2.4: strongest first).
    // Some phones give up when they see one they do not know (baresip 1.0 and SHA-256).
    std::vector<std::string> digest{"SHA-256", "MD5"};
    std::vector<AccountOptions> accounts;
};

inline constexpr std::uint16_t kDefaultRegistrarPort = 5070;

// Reads a node config file (TOML): [gateway] settings and [[account]] entries. Returns an
// error naming file, line and key ("node.toml:7: key 'account.password': expected a
// string"), empty when fine.
std::string load_node_config(const std::filesystem::path& path, GatewayOptions& out);

// The address the registrar listens on when the config names none: `bind` when it is a
// private (RFC 1918) or loopback address, else (a wildcard or a public address) the first
// private IPv4 address of this host, else loopback. Never a wildcard or a public address:
// phones from elsewhere must be let in on purpose (listen = "0.0.0.0:5070").
std::string default_registrar_address(const std::string& bind);

}  // namespace p2psip::node
