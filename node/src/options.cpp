#include "options.hpp"

#include <utility>  // before Boost.Asio (project convention)

#include <charconv>
#include <cstdlib>

#include "p2psip/sip/transport.hpp"
#include "p2psip/sip/uri.hpp"

namespace p2psip::node {

overlay::LookupOptions lookup_options(const PhoneOptions& o) {
    overlay::LookupOptions opts;
    opts.timeout = std::chrono::milliseconds(o.lookup_timeout_ms);
    opts.replicas_together = o.lookup_both_keys;
    return opts;
}

void add_phone_options(CLI::App& app, PhoneOptions& o) {
    app.add_option("--user", o.user, "SIP address this node holds, e.g. sip:alice@example.org")
        ->required();
    app.add_option("--bind", o.bind_address, "IPv4 address for SIP, DHT and media sockets")
        ->capture_default_str();
    app.add_option("--sip-port", o.sip_port, "UDP port for SIP (0 = any)")->capture_default_str();
    app.add_option("--dht-port", o.dht_port, "UDP port for OpenDHT (0 = any)")
        ->capture_default_str();
    app.add_option("--bootstrap", o.bootstrap,
                   "OpenDHT node to join through, HOST:PORT (repeatable)");
    app.add_option("--network-id", o.network_id,
                   "OpenDHT network id; 0 is the public network, use another for test overlays")
        ->capture_default_str();
    app.add_option("--data-dir", o.data_dir, "where the identity key and state live");
    app.add_flag("--auto-answer", o.auto_answer, "answer incoming calls at once");
    app.add_option("--play", o.play, "WAV file to send as the microphone");
    app.add_option("--record", o.record, "WAV file to write what the peer sends");
    app.add_option("--audio-device", o.audio_device,
                   "sound card for microphone and speaker: index or name from 'p2psip devices' "
                   "(default: the system's default device)");
    app.add_option("--call", o.call, "AOR to dial at start; the node exits when that call ends");
    app.add_option("--duration", o.duration, "hang up this many seconds after answer")
        ->check(CLI::NonNegativeNumber);
    app.add_flag("--keep-running", o.keep_running, "with --call: keep running after the call");
    app.add_option("--codecs", o.codecs, "codec preference: opus, pcmu, pcma")
        ->delimiter(',')
        ->check(CLI::IsMember({"opus", "pcmu", "pcma"}, CLI::ignore_case))
        ->capture_default_str();
    app.add_option("--srtp", o.srtp, "encrypt media with SRTP (off sends plaintext RTP)")
        ->capture_default_str();
    app.add_option("--binding-ttl", o.binding_ttl,
                   "seconds a DHT binding lives (refreshed at half)")
        ->check(CLI::Range(10, 86400))
        ->capture_default_str();
    app.add_option("--lookup-timeout", o.lookup_timeout_ms, "milliseconds to wait for a DHT lookup")
        ->capture_default_str();
    app.add_flag("--lookup-both-keys", o.lookup_both_keys,
                 "ask the AOR's main and replica DHT keys at once and take the newest binding "
                 "(for overlays where phones come and go within minutes)");
    app.add_option("--routing-refresh", o.routing_refresh,
                   "seconds between checks of the whole DHT routing table, so contacts that "
                   "left are dropped (0 = never)")
        ->check(CLI::Range(0, 86400))
        ->capture_default_str();
    app.add_option("--routing-probes", o.routing_probes,
                   "contacts pinged at each check; the table is rechecked only when one does "
                   "not answer, or every 10 minutes (0 = recheck at every check)")
        ->check(CLI::Range(0, 64))
        ->capture_default_str();
    app.add_option("--ice-timeout", o.ice_timeout_ms, "milliseconds for ICE to find a path")
        ->capture_default_str();
    app.add_option("--stun", o.stun,
                   "STUN server HOST:PORT (numeric IP): learns the public address of the SIP "
                   "and media sockets behind a NAT");
    app.add_option("--turn", o.turn,
                   "TURN server USER:PASSWORD@HOST:PORT (numeric IP, UDP): relays media when "
                   "no direct path works");
    app.add_option("--dht-signaling", o.dht_signaling,
                   "also carry SIP through the DHT (encrypted) until the peer answers directly")
        ->capture_default_str();
    app.add_flag("--tls", o.tls,
                 "SIP over TLS between nodes: listen on --tls-port, publish that contact, and "
                 "call other nodes' TLS contacts (their certificate must be the key that holds "
                 "their DHT binding)");
    app.add_option("--tls-port", o.tls_port, "TCP port for SIP over TLS (0 = SIP port + 1)")
        ->capture_default_str();
    app.add_option("--dtmf", o.dtmf, "DTMF digits (0-9*#A-D) to send once a call's media flows")
        ->check([](const std::string& s) {
            return s.find_first_not_of("0123456789*#ABCDabcd") == std::string::npos
                       ? std::string{}
                       : std::string("only 0-9 * # A-D");
        });
    app.add_option("--report", o.report_file,
                   "append each call report as a JSON line to this file");
    app.add_option("--log-level", o.log_level, "trace, debug, info, warn, error")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
        ->capture_default_str();
    app.add_option("--config", o.config,
                   "node config file (TOML): [gateway] and [[account]] entries that let plain "
                   "SIP phones register to this node (docs/user-guide.md)");
    app.add_option("--console", o.console, "read commands (call, answer, hangup, quit) from stdin")
        ->capture_default_str();
}

std::optional<boost::asio::ip::udp::endpoint> parse_ip_port(std::string_view text) {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    const auto digits = text.substr(colon + 1);
    unsigned port = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (ec != std::errc{} || end != digits.data() + digits.size() || port == 0 || port > 65535)
        return std::nullopt;
    boost::asio::ip::udp::endpoint ep;
    if (sip::make_endpoint(text.substr(0, colon), static_cast<std::uint16_t>(port), ep))
        return std::nullopt;
    return ep;
}

std::string finalize(PhoneOptions& o) {
    if (o.data_dir.empty()) {
        if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg)
            o.data_dir = std::filesystem::path(xdg) / "p2psip";
        else if (const char* home = std::getenv("HOME"); home && *home)
            o.data_dir = std::filesystem::path(home) / ".local/share/p2psip";
        else
            return "no --data-dir given and neither XDG_DATA_HOME nor HOME is set";
    }
    auto host_port = [](std::string_view text, std::string& host, std::uint16_t& port) {
        const auto ep = parse_ip_port(text);
        if (!ep) return false;
        host = ep->address().to_string();
        port = ep->port();
        return true;
    };
    if (!o.stun.empty() && !host_port(o.stun, o.stun_host, o.stun_port))
        return "--stun '" + o.stun + "': expected IP:PORT, e.g. 192.0.2.10:3478";
    if (!o.turn.empty()) {
        const auto at = o.turn.rfind('@');
        const auto colon = o.turn.find(':');
        if (at == std::string::npos || colon == std::string::npos || colon > at ||
            !host_port(o.turn.substr(at + 1), o.turn_host, o.turn_port))
            return "--turn '" + o.turn + "': expected USER:PASSWORD@IP:PORT";
        o.turn_user = o.turn.substr(0, colon);
        o.turn_password = o.turn.substr(colon + 1, at - colon - 1);
        if (o.turn_user.empty()) return "--turn '" + o.turn + "': the user name is empty";
    }
    if (!o.config.empty()) {
        if (auto why = load_node_config(o.config, o.gateway); !why.empty()) return why;
        // The node's own binding and an account's would be one DHT value (same AOR and
        // instance): a phone unregistering would withdraw the node.
        std::string user = o.user;
        if (user.rfind("sip:", 0) != 0 && user.rfind("sips:", 0) != 0) user = "sip:" + user;
        const auto own = sip::canonical_aor(user);
        for (const auto& a : o.gateway.accounts)
            if (a.aor == own)
                return o.config.string() + ": account " + a.aor +
                       " is this node's own --user; give the node another AOR";
    }
    for (auto& c : o.codecs)
        for (auto& ch : c) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return {};
}

}  // namespace p2psip::node
