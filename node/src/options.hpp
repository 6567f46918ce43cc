#pragma once
#include <CLI/CLI.hpp>

#include <utility>  // before Boost.Asio (project convention)

#include <boost/asio/ip/udp.hpp>
#include <optional>
#include <string_view>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "node_config.hpp"
#include "p2psip/overlay/lookup.hpp"
#include "p2psip/overlay/routing_refresh.hpp"

namespace p2psip::node {

// Everything `p2psip node` can be told; defaults are what a phone on a LAN wants.
struct PhoneOptions {
    std::string user;  // the AOR this node holds, e.g. sip:alice@example.org
    std::string bind_address = "127.0.0.1";
    std::uint16_t sip_port = 5060;
    std::uint16_t dht_port = 4222;       // OpenDHT's usual port
    std::vector<std::string> bootstrap;  // HOST:PORT
    std::uint64_t network_id = 0;        // 0 = public OpenDHT network
    std::filesystem::path data_dir;      // default: $XDG_DATA_HOME/p2psip or ~/.local/share/p2psip
    bool auto_answer = false;
    std::string play;           // WAV file to send; default: audio device or silence
    std::string record;         // WAV file to write; default: audio device or discard
    std::string audio_device;   // PortAudio device (index or name, `p2psip devices`); "" = default
    std::string call;           // AOR or sip: URI to dial at start
    double duration = 0;        // hang up this many seconds after answer (0 = never)
    bool keep_running = false;  // with --call: stay up after the call ends
    std::vector<std::string> codecs{"opus", "pcmu"};  // preference order
    bool srtp = true;                 // false only when the user allows plaintext RTP
    std::uint32_t binding_ttl = 600;  // seconds a DHT record lives; refreshed at half
    std::uint32_t lookup_timeout_ms = 8000;
    // Ask the AOR's main and replica keys at once (protocol.md §4 "Both keys at once"):
    // fewer stale answers where phones restart within minutes, one more get per lookup.
    bool lookup_both_keys = false;
    // Seconds between checks of the whole DHT routing table (overlay::RoutingRefresh;
    // 0: never, OpenDHT's own upkeep only). simulations.md "Routing refresh".
    std::uint32_t routing_refresh = overlay::kDefaultRoutingRefresh.count();
    // Contacts pinged at each check (overlay::RoutingRefreshOptions::probes); the whole
    // table is rechecked only when one does not answer. 0: at every check.
    std::uint32_t routing_probes = overlay::kDefaultRoutingProbes;
    std::uint32_t ice_timeout_ms = 15000;
    // NAT traversal (docs/user-guide.md "Behind a NAT"). Numeric addresses only.
    std::string stun;           // HOST:PORT of a STUN server: public SIP contact + srflx candidates
    std::string turn;           // USER:PASSWORD@HOST:PORT of a TURN server (UDP): relay candidates
    bool dht_signaling = true;  // carry SIP through the DHT while direct datagrams fail
    // SIP over TLS between nodes (protocol.md §6.2): listen, publish a TLS contact, and call
    // TLS contacts of other nodes, checking their certificate against the DHT binding.
    bool tls = false;
    std::uint16_t tls_port = 0;  // 0: the SIP port + 1 (or any, with --sip-port 0)
    // Filled by finalize() from stun/turn.
    std::string stun_host, turn_host, turn_user, turn_password;
    std::uint16_t stun_port = 0, turn_port = 0;
    std::string dtmf;         // digits to send (RFC 4733) once media flows, e.g. "123#"
    std::string report_file;  // also write each call report as JSON here
    std::string log_level = "info";
    bool console = true;  // read commands from stdin
    // Also serve plain SIP phones (registrar + B2BUA), from the config file's accounts.
    std::filesystem::path config;
    GatewayOptions gateway;
};

void add_phone_options(CLI::App& app, PhoneOptions& options);

// How this phone looks an AOR up (timeout, both keys at once); the caller adds a pin.
overlay::LookupOptions lookup_options(const PhoneOptions& options);

// "IP:PORT" or "[v6]:PORT" (numeric, port 1-65535, no DNS) as an endpoint; nullopt otherwise.
std::optional<boost::asio::ip::udp::endpoint> parse_ip_port(std::string_view text);

// Fills defaults that depend on the environment and checks combinations; returns a
// human error message, empty when fine.
std::string finalize(PhoneOptions& options);

}  // namespace p2psip::node
