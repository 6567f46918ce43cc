#include "signaling.hpp"

#include <fmt/format.h>

#include "p2psip/overlay/keys.hpp"
#include "p2psip/sip/message.hpp"
#include "p2psip/sip/transport.hpp"
#include "p2psip/sip/uri.hpp"

namespace p2psip::node {

namespace {
// An identical datagram goes through the DHT at most this often. SIP retransmissions
// (Timer A/G, 2xx: T1 = 500 ms and up, RFC 3261 §17.1.1.2) are all relayed: a lost DHT
// packet then costs one SIP retransmission interval instead of OpenDHT's 1 s request
// timeout. Copies sent back to back (within this) are not.
constexpr auto kRelayRepeat = std::chrono::milliseconds(400);
constexpr std::size_t kMaxPeers = 256;

std::optional<asio::ip::udp::endpoint> endpoint_of(const sip::Uri& uri) {
    asio::ip::udp::endpoint ep;
    if (sip::make_endpoint(uri.host, uri.port ? uri.port : 5060, ep)) return std::nullopt;
    return ep;
}

std::string text_of(const asio::ip::udp::endpoint& ep) {
    return ep.address().is_v6() ? fmt::format("[{}]:{}", ep.address().to_string(), ep.port())
                                : fmt::format("{}:{}", ep.address().to_string(), ep.port());
}
}  // namespace

Signaling::Signaling(asio::io_context& io, sip::UserAgent& ua, overlay::DhtAccess& dht,
                     const PhoneOptions& options, std::string instance_id,
                     std::shared_ptr<spdlog::logger> log)
    : io_(io),
      ua_(ua),
      dht_(dht),
      options_(options),
      instance_id_(std::move(instance_id)),
      log_(std::move(log)) {}

Signaling::~Signaling() {
    stop();
}

void Signaling::start(std::function<void()> ready) {
    ready_ = std::move(ready);
    transport_ = ua_.transport();
    auto* transport = transport_;
    if (transport) {
        transport->set_raw_handler(
            [this](std::span<const uint8_t> d, const Endpoint& from) { return on_raw(d, from); });
        transport->set_send_observer(
            [this](std::string_view d, const Endpoint& to) { on_sent(d, to); });
    }
    inbox_ = overlay::Inbox::create(dht_, instance_id_);
    inbox_->on_signal([this](const overlay::Signal& s) { on_signal(s); });
    own_key_ = overlay::aor_key(ua_.config().aor);
    if (auto ec = inbox_->listen(own_key_)) {
        log_->warn("DHT signalling unavailable ({}): only direct SIP will reach this node",
                   ec.message());
    } else {
        inbox_listening_ = true;
        log_->debug("listening for DHT-carried SIP under {}", own_key_.toString());
    }
    if (options_.stun_host.empty() || !transport) {
        auto r = std::move(ready_);
        if (r) asio::post(io_, r);
        return;
    }
    Endpoint server;
    if (sip::make_endpoint(options_.stun_host, options_.stun_port, server)) {
        auto r = std::move(ready_);
        if (r) asio::post(io_, r);
        return;
    }
    nat::StunMapping::Config cfg;
    cfg.server = server;
    stun_ =
        nat::StunMapping::create(io_, cfg, [this](std::span<const uint8_t> d, const Endpoint& to) {
            if (auto* t = transport_)
                (void)t->send(std::string(reinterpret_cast<const char*>(d.data()), d.size()), to);
        });
    stun_->start([this](std::error_code ec, const Endpoint& mapped) { on_mapping(ec, mapped); });
}

void Signaling::stop() {
    if (stopped_) return;
    stopped_ = true;
    if (stun_) stun_->stop();
    if (inbox_) inbox_->stop();
    if (auto* t = transport_) {
        t->set_raw_handler(nullptr);
        t->set_send_observer(nullptr);
    }
}

void Signaling::on_mapping(std::error_code ec, const Endpoint& mapped) {
    if (ec) {
        if (ready_)
            log_->warn("STUN {} failed: {}; publishing the local address only", options_.stun,
                       ec.message());
    } else {
        const auto local = transport_ ? transport_->local_endpoint() : Endpoint{};
        const bool behind_nat = mapped != local;
        std::optional<Endpoint> now = behind_nat ? std::optional<Endpoint>(mapped) : std::nullopt;
        if (now != public_) {
            public_ = now;
            if (public_) {
                log_->info("public SIP address (STUN): {}", text_of(*public_));
                ua_.set_advertised(public_->address().to_string(), public_->port());
            } else {
                log_->info("STUN: no NAT in front of the SIP socket");
                ua_.set_advertised("", 0);
            }
            if (contacts_changed_) contacts_changed_();
        }
    }
    if (ready_) {
        auto r = std::move(ready_);
        ready_ = nullptr;
        r();
    }
}

std::string Signaling::lan_contact() const {
    const auto* t = transport_;
    return t ? text_of(t->local_endpoint()) : std::string{};
}

std::string Signaling::public_contact() const {
    return public_ ? text_of(*public_) : lan_contact();
}

std::vector<std::string> Signaling::contacts() const {
    std::vector<std::string> out{ua_.contact()};
    if (public_) {
        sip::Uri aor;
        (void)sip::parse_uri(ua_.config().aor, aor);
        sip::Uri lan;
        lan.scheme = "sip";
        lan.user = aor.user;
        const auto* t = transport_;
        if (t) {
            lan.host = t->local_endpoint().address().to_string();
            lan.port = t->local_port();
            out.push_back(lan.to_string());
        }
    } else if (auto* tls = ua_.tls_transport()) {
        // SIP over TLS (protocol.md §6.2), last so that nodes without TLS keep using the
        // first contact. Not behind a NAT: a TCP listener there is out of reach.
        sip::Uri uri;
        if (!sip::parse_uri(out.front(), uri)) {
            uri.port = tls->local_port();
            uri.params = {{"transport", "tls"}};
            out.push_back(uri.to_string());
        }
    }
    return out;
}

bool Signaling::behind_same_nat(const asio::ip::address& peer_public) const {
    return public_ && public_->address() == peer_public;
}

Signaling::Peer& Signaling::remember(std::shared_ptr<const dht::crypto::PublicKey> key,
                                     const std::string& instance,
                                     const std::vector<Endpoint>& endpoints,
                                     const dht::InfoHash& rendezvous) {
    const std::string id = (key ? key->getId().toString() : std::string("?")) + "/" + instance;
    if (peers_.size() >= kMaxPeers && !peers_.count(id)) {
        // Forget the least recently used peer.
        auto oldest = peers_.begin();
        for (auto it = peers_.begin(); it != peers_.end(); ++it)
            if (it->second.used < oldest->second.used) oldest = it;
        for (const auto& ep : oldest->second.endpoints) peer_by_endpoint_.erase(ep);
        const auto gone = oldest->second.rendezvous;
        peers_.erase(oldest);
        bool used = gone == own_key_;
        for (const auto& [pid, peer] : peers_) used = used || peer.rendezvous == gone;
        if (!used && inbox_) inbox_->unlisten(gone);
    }
    auto& p = peers_[id];
    if (key) p.key = std::move(key);
    p.instance = instance;
    p.rendezvous = rendezvous;
    p.used = std::chrono::steady_clock::now();
    for (const auto& ep : endpoints) {
        if (std::find(p.endpoints.begin(), p.endpoints.end(), ep) == p.endpoints.end())
            p.endpoints.push_back(ep);
        peer_by_endpoint_[ep] = id;
    }
    return p;
}

std::optional<sip::Uri> Signaling::route_to(const overlay::Binding& b) {
    std::vector<std::pair<sip::Uri, Endpoint>> usable;
    std::optional<sip::Uri> tls;
    for (const auto& c : b.contacts) {
        sip::Uri uri;
        if (sip::parse_uri(c, uri)) continue;
        if (sip::uri_transport(uri) == sip::TransportKind::tls) {
            if (!tls) tls = uri;  // only for callers with TLS themselves (below)
            continue;
        }
        if (auto ep = endpoint_of(uri)) usable.emplace_back(uri, *ep);
    }
    // With TLS on both sides the dialog goes over it (protocol.md §6.2); the caller checks
    // the certificate against the binding's key before anything is sent (TlsPeerCheck).
    if (tls && ua_.tls_transport() && endpoint_of(*tls)) return tls;
    if (usable.empty()) return std::nullopt;
    // Contacts are published public first (protocol.md §3). Behind the same NAT as us the
    // public one would need hairpinning, which many NATs (and Linux MASQUERADE) lack.
    std::size_t target = 0;
    std::vector<Endpoint> endpoints{usable[0].second};
    if (usable.size() > 1 && behind_same_nat(usable[0].second.address())) {
        target = 1;
        endpoints.push_back(usable[1].second);
    }
    const auto rendezvous = overlay::aor_key(b.aor);
    // Replies to what we put there come back under the same key.
    if (b.inbox && options_.dht_signaling && inbox_listening_) (void)inbox_->listen(rendezvous);
    remember(b.inbox ? b.signer_key : nullptr, b.instance_id, endpoints, rendezvous);
    return usable[target].first;
}

std::size_t Signaling::via_dht(const std::string& call_id) const {
    auto it = via_dht_.find(call_id);
    return it == via_dht_.end() ? 0 : it->second;
}

void Signaling::network_changed() {
    log_->info("network may have changed: refreshing the public address");
    // Not OpenDHT's connectivityChanged(): on the testbed it made the next puts wait
    // 10-17 s for the searches to re-sync (3 runs), while without it the re-INVITE went
    // through the DHT from the new address at once (restart done in 2.3 s, 3 runs of 3).
    if (stun_) stun_->refresh();
    // Direct paths that worked may not any more: relay through the DHT again until each
    // peer is heard directly anew.
    for (auto& [id, p] : peers_) p.confirmed.clear();
}

std::string Signaling::path_to(const Endpoint& ep) const {
    auto it = peer_by_endpoint_.find(ep);
    if (it == peer_by_endpoint_.end()) return "direct";
    auto p = peers_.find(it->second);
    return p == peers_.end() || !p->second.confirmed.empty() ? "direct" : "dht";
}

bool Signaling::on_raw(std::span<const uint8_t> d, const Endpoint& from) {
    if (stun_ && stun_->on_datagram(d, from)) return true;
    if (auto it = peer_by_endpoint_.find(from); it != peer_by_endpoint_.end()) {
        auto p = peers_.find(it->second);
        if (p != peers_.end() && p->second.confirmed.insert(from).second) {
            ++stats_.confirmed;
            log_->debug("direct SIP from {} works", text_of(from));
        }
    }
    return false;
}

void Signaling::on_sent(std::string_view datagram, const Endpoint& to) {
    if (copying_) return;  // our own copy below
    auto it = peer_by_endpoint_.find(to);
    if (it == peer_by_endpoint_.end()) return;
    auto pit = peers_.find(it->second);
    if (pit == peers_.end()) return;
    Peer& p = pit->second;
    p.used = std::chrono::steady_clock::now();
    if (p.confirmed.count(to)) return;
    if (!p.confirmed.empty()) {
        // Another address of this peer is known to work (e.g. its LAN address while the
        // dialog names its public one): send it there too.
        copying_ = true;
        for (const auto& c : p.confirmed)
            if (auto* t = transport_) (void)t->send(std::string(datagram), c), ++stats_.copied;
        copying_ = false;
        return;
    }
    if (!options_.dht_signaling || !p.key || !inbox_listening_) return;
    const auto now = std::chrono::steady_clock::now();
    const auto h = std::hash<std::string_view>{}(datagram);
    if (auto r = p.recent.find(h); r != p.recent.end() && now - r->second < kRelayRepeat) return;
    for (auto r = p.recent.begin(); r != p.recent.end();)
        r = now - r->second > std::chrono::seconds(64) ? p.recent.erase(r) : std::next(r);
    p.recent[h] = now;
    ++stats_.relayed;
    log_->debug("SIP to {} also through the DHT ({} bytes)", text_of(to), datagram.size());
    inbox_->send(p.rendezvous, p.key, public_contact(), lan_contact(), std::string(datagram),
                 [log = log_](bool ok) {
                     if (!ok) log->debug("DHT put of a SIP message found no node");
                 });
}

void Signaling::on_signal(const overlay::Signal& s) {
    auto* t = transport_;
    if (!t || stopped_) return;
    auto pub = parse_ip_port(s.from_contact);
    if (!pub) {
        log_->debug("DHT-carried SIP with an unusable contact '{}' ignored", s.from_contact);
        return;
    }
    std::vector<Endpoint> endpoints{*pub};
    Endpoint source = *pub;
    if (auto lan = parse_ip_port(s.lan_contact);
        lan && *lan != *pub && behind_same_nat(pub->address())) {
        endpoints.push_back(*lan);
        source = *lan;  // same NAT: answer on the LAN, the public address would need hairpin
    }
    remember(s.sender, s.from_instance, endpoints, s.key);
    ++stats_.received_via_dht;
    sip::Message msg;
    if (!sip::parse_message(s.sip, msg)) ++via_dht_[std::string(msg.call_id())];
    log_->debug("SIP through the DHT from {} ({} bytes)", text_of(source), s.sip.size());
    t->inject(s.sip, source);
}

}  // namespace p2psip::node
