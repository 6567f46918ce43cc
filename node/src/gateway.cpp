#include "gateway.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "p2psip/overlay/error.hpp"
#include "p2psip/sip/uri.hpp"

namespace p2psip::node {

Gateway::Gateway(CallEnv& env, overlay::DhtAccess& dht, std::string instance_id,
                 std::function<std::vector<std::string>()> node_contacts, ReportFn report)
    : env_(env),
      dht_(dht),
      instance_id_(std::move(instance_id)),
      node_contacts_(std::move(node_contacts)),
      report_(std::move(report)),
      options_(env.options.gateway) {}

Gateway::~Gateway() {
    stopped_ = true;
    for (const auto& b : bridges_) b->hangup("node shutting down");
    registrar_.reset();
    if (lan_) lan_->stop();
}

std::string Gateway::start() {
    if (options_.listen.empty()) {
        listen_host_ = default_registrar_address(env_.options.bind_address);
        listen_port_ = kDefaultRegistrarPort;
    } else {
        const auto ep = parse_ip_port(options_.listen);  // checked when the config was read
        listen_host_ = ep->address().to_string();
        listen_port_ = ep->port();
    }
    sip::UaConfig ucfg;
    ucfg.bind_address = listen_host_;
    ucfg.port = listen_port_;
    ucfg.aor = env_.local_aor;
    lan_ = std::make_unique<sip::UserAgent>(env_.io, ucfg);
    if (auto ec = lan_->start())
        return fmt::format("registrar on {}:{}: {}", listen_host_, listen_port_, ec.message());

    sip::RegistrarConfig rcfg;
    rcfg.realm = options_.realm;
    for (const auto& a : options_.accounts)
        rcfg.accounts.push_back({a.aor, a.username, a.password});
    rcfg.min_expires = std::chrono::seconds(options_.min_expires);
    rcfg.max_expires = std::chrono::seconds(options_.max_expires);
    rcfg.default_expires = std::chrono::seconds(options_.max_expires);
    rcfg.max_failures = options_.max_failures;
    rcfg.block_time = std::chrono::seconds(options_.block_seconds);
    rcfg.algorithms.clear();
    for (const auto& a : options_.digest)
        rcfg.algorithms.push_back(a == "MD5" ? sip::DigestAlgorithm::md5
                                             : sip::DigestAlgorithm::sha256);
    registrar_ = std::make_unique<sip::Registrar>(env_.io, *lan_, std::move(rcfg));
    registrar_->on_change(
        [this](const std::string& aor, const std::vector<sip::Registration>& contacts) {
            on_registrations(aor, contacts);
        });
    lan_->on_incoming([this](std::shared_ptr<sip::Session> s) { on_phone_invite(std::move(s)); });
    bridge_env_ = std::make_unique<BridgeEnv>(
        BridgeEnv{env_, *lan_, listen_host_, options_.phone_srtp, env_.log});
    std::vector<std::string> names;
    for (const auto& a : options_.accounts) names.push_back(a.aor);
    env_.log->info("registrar listening on udp/tcp {}:{} (realm \"{}\") for {}", listen_host_,
                   lan_->port(), options_.realm, fmt::join(names, ", "));
    return {};
}

std::string Gateway::listen_address() const {
    return fmt::format("{}:{}", listen_host_, lan_ ? lan_->port() : listen_port_);
}

bool Gateway::serves(const std::string& aor) const {
    return registrar_ && registrar_->account_for(aor) != nullptr;
}

std::string Gateway::status() const {
    std::string out;
    for (const auto& a : options_.accounts) {
        const auto n = registrar_ ? registrar_->registrations(a.aor).size() : 0;
        out += fmt::format(" | {}: {} phone(s)", a.aor, n);
    }
    return out + fmt::format(" | bridged calls {}", bridges_.size());
}

// ---- registrations -> DHT bindings -------------------------------------------------------

std::vector<std::string> Gateway::contacts_for(const std::string& aor) const {
    // The node's own contacts with the account's user part: calls for the AOR come to the
    // node, which rings the phone.
    sip::Uri account;
    (void)sip::parse_uri(aor, account);
    std::vector<std::string> out;
    for (const auto& c : node_contacts_()) {
        sip::Uri uri;
        if (sip::parse_uri(c, uri)) continue;
        uri.user = account.user;
        out.push_back(uri.to_string());
    }
    return out;
}

void Gateway::on_registrations(const std::string& aor,
                               const std::vector<sip::Registration>& contacts) {
    if (stopped_) return;
    auto it = publishers_.find(aor);
    if (!contacts.empty()) {
        std::vector<std::string> where;
        for (const auto& r : contacts) where.push_back(r.contact);
        env_.log->info("{} registered: {}", aor, fmt::join(where, ", "));
        if (it != publishers_.end()) return;  // already published; the binding names the node
        overlay::PublishConfig pcfg{aor, contacts_for(aor), instance_id_,
                                    std::chrono::seconds(env_.options.binding_ttl)};
        pcfg.next_value_seq = env_.next_value_seq;
        auto publisher = overlay::BindingPublisher::create(dht_, pcfg);
        publishers_[aor] = publisher;
        publisher->start([this, aor, contacts = pcfg.contacts](std::error_code ec) {
            if (!ec)
                env_.log->info("published {} -> {} (for its phone)", aor,
                               fmt::join(contacts, ", "));
            else if (ec == overlay::errc::name_taken)
                env_.log->error(
                    "{} is held by another key in the DHT: its phone can call out "
                    "but cannot be reached",
                    aor);
            else
                env_.log->warn("publishing {} failed ({}); retrying", aor, ec.message());
        });
        return;
    }
    env_.log->info("{}: no phone registered any more", aor);
    if (it == publishers_.end()) return;
    auto publisher = it->second;
    publishers_.erase(it);
    // The binding goes: callers find no contact for the AOR (RFC 3261 §10.3 in the DHT).
    publisher->withdraw(
        [log = env_.log, aor, publisher] { log->info("binding of {} withdrawn", aor); });
}

void Gateway::contacts_changed() {
    for (auto& [aor, publisher] : publishers_) publisher->set_contacts(contacts_for(aor));
}

// ---- calls -------------------------------------------------------------------------------

void Gateway::on_phone_invite(std::shared_ptr<sip::Session> session) {
    if (stopped_) return session->reject(480, "Temporarily Unavailable");
    const auto* request = session->request();
    sip::ResponseSpec challenge;
    const sip::Destination source{session->remote_endpoint(), session->transport_kind()};
    const sip::Account* account =
        request ? registrar_->authenticate(*request, source, challenge) : nullptr;
    if (!account) {
        if (!request) challenge = {403, "Forbidden", {}, {}, {}};
        session->reject(challenge.status, challenge.reason, challenge.headers);
        return;
    }
    sip::Uri target;
    if (sip::parse_uri(request->request_uri(), target) || target.user.empty())
        return session->reject(404, "Not Found");
    // Dialled by user name only, the phone puts our address as the domain: the account's.
    const bool wildcard = listen_host_ == "0.0.0.0" || listen_host_ == "::";
    if (target.host == listen_host_ || (wildcard && target.port == lan_->port())) {
        sip::Uri mine;
        (void)sip::parse_uri(account->aor, mine);
        target.host = mine.host;
        target.port = 0;
        target.params.clear();
    }
    std::string text = target.to_string();
    if (!is_direct_uri(text)) text = sip::canonical_aor(target);
    auto bridge = Bridge::outgoing(*bridge_env_, std::move(session), account->aor, text,
                                   [this](const CallReport& r) { on_bridge_ended(r); });
    if (!bridge->ended()) bridges_.insert(bridge);
}

void Gateway::on_overlay_invite(std::shared_ptr<sip::Session> session) {
    const auto contacts = registrar_->registrations(session->to_aor());
    if (contacts.empty()) {
        env_.log->info("call for {}: no phone registered: 480", session->to_aor());
        return session->reject(480, "Temporarily Unavailable");
    }
    auto bridge = Bridge::incoming(*bridge_env_, std::move(session), contacts,
                                   [this](const CallReport& r) { on_bridge_ended(r); });
    if (!bridge->ended()) bridges_.insert(bridge);
}

void Gateway::on_bridge_ended(const CallReport& report) {
    if (report_) report_(report);
    // The bridge is on the stack of its own callback: dropped later.
    asio::post(env_.io, [this] {
        for (auto it = bridges_.begin(); it != bridges_.end();)
            it = (*it)->ended() ? bridges_.erase(it) : std::next(it);
    });
}

void Gateway::stop() {
    if (stopped_) return;
    stopped_ = true;
    for (const auto& b : std::set<std::shared_ptr<Bridge>>(bridges_))
        b->hangup("node shutting down");
    for (auto& [aor, publisher] : publishers_)
        publisher->withdraw([log = env_.log, aor = aor, publisher = publisher] {
            log->info("binding of {} withdrawn", aor);
        });
    publishers_.clear();
}

}  // namespace p2psip::node
