#include "phone.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <fstream>

#include "p2psip/media/audio_device.hpp"
#include "p2psip/overlay/error.hpp"
#include "p2psip/overlay/identity.hpp"
#include "p2psip/sip/uri.hpp"

namespace p2psip::node {

namespace {
constexpr auto join_poll = std::chrono::milliseconds(100);
constexpr int join_attempts = 100;  // 10 s: then publish anyway; OpenDHT keeps trying
}  // namespace

Phone::Phone(asio::io_context& io, PhoneOptions options, std::shared_ptr<spdlog::logger> log)
    : io_(io),
      options_(std::move(options)),
      log_(std::move(log)),
      join_timer_(io),
      quit_timer_(io) {}

Phone::~Phone() {
    gateway_.reset();
    call_.reset();
    signaling_.reset();
    if (ua_) ua_->stop();
    if (dht_) dht_->stop();
}

std::string Phone::start() {
    sip::Uri uri;
    std::string user = options_.user;
    if (user.rfind("sip:", 0) != 0 && user.rfind("sips:", 0) != 0) user = "sip:" + user;
    if (sip::parse_uri(user, uri) || uri.user.empty() || uri.host.empty())
        return fmt::format("--user '{}' is not a SIP address like sip:alice@example.org",
                           options_.user);
    aor_ = sip::canonical_aor(uri);

    overlay::Identity identity;
    if (auto ec = overlay::load_or_create_identity(options_.data_dir, aor_, identity))
        return fmt::format("identity in {}: {}", options_.data_dir.string(), ec.message());
    std::string& instance_id = instance_id_;
    if (auto ec = overlay::load_or_create_instance_id(options_.data_dir, instance_id))
        return fmt::format("instance id in {}: {}", options_.data_dir.string(), ec.message());
    const auto key_id = identity.dht.second->getId().toString();
    log_->info("{} identity {} (RSA-{}) in {}", identity.created ? "created" : "loaded", key_id,
               overlay::identity_key_bits, options_.data_dir.string());

    // DTLS-SRTP (RFC 5763) is tied to the key that signs our DHT records: the handshake shows
    // a fresh ECDSA certificate issued by the identity certificate, and the identity
    // certificate with it, so a caller can check both against the key that holds our AOR.
    // Not the identity key itself: an RSA-3072 signature costs ~25 ms here and a handshake
    // needs one per side (protocol.md §6.1).
    media::DtlsCredentials identity_pem;
    try {  // OpenDHT reports failures by throwing
        const auto key_pem = identity.dht.first->serialize();
        identity_pem.certificate_pem = identity.dht.second->toString(false);
        identity_pem.private_key_pem.assign(key_pem.begin(), key_pem.end());
    } catch (const std::exception& e) {
        return fmt::format("identity in {}: cannot export it for DTLS: {}",
                           options_.data_dir.string(), e.what());
    }
    // libsrtp2's first use initialises NSS and probes AES-GCM (~35 ms): here, not in a call.
    if (auto ec = media::srtp_init()) return fmt::format("SRTP: {}", ec.message());
    (void)media::is_supported_suite(media::kSuiteAeadAes128Gcm);
    if (auto ec = media::issue_credentials(identity_pem, "p2psip-dtls", dtls_))
        return fmt::format("identity in {}: cannot issue a DTLS certificate: {}",
                           options_.data_dir.string(), ec.message());
    if (auto ec = media::fingerprint_attribute_of_pem(dtls_.certificate_pem, dtls_fingerprint_))
        return fmt::format("identity certificate: {}", ec.message());

    dht_ = std::make_unique<overlay::RunnerDht>(io_, std::move(identity));
    overlay::RunnerConfig dcfg;
    dcfg.bind_address = options_.bind_address;
    dcfg.port = options_.dht_port;
    dcfg.network_id = options_.network_id;
    dcfg.bootstrap = options_.bootstrap;
    if (auto ec = overlay::load_or_create_dht_node_id(options_.data_dir, dcfg.node_id))
        log_->warn("{}/dht-node-id: {}; using a new DHT node id for this run",
                   options_.data_dir.string(), ec.message());
    if (auto ec = dht_->start(dcfg))
        return fmt::format("DHT on {}:{}: {}", options_.bind_address, options_.dht_port,
                           ec.message());
    log_->info("DHT node {} on {}:{} network {}", dht_->node_id().toString(), options_.bind_address,
               dht_->bound_port(), options_.network_id);
    // Under churn OpenDHT alone keeps departed contacts for ten minutes (simulations.md
    // "Routing refresh").
    overlay::RoutingRefreshOptions refresh;
    refresh.interval = std::chrono::seconds(options_.routing_refresh);
    refresh.probes = options_.routing_probes;
    routing_refresh_ = std::make_unique<overlay::RoutingRefresh>(*dht_, refresh, [this] {
        log_->debug("rechecking the DHT routing table ({} good contacts)", dht_->good_nodes());
    });
    routing_refresh_->start();

    sip::UaConfig ucfg;
    ucfg.bind_address = options_.bind_address;
    ucfg.port = options_.sip_port;
    ucfg.aor = aor_;
    if (options_.tls) {
        // The same certificate pair as DTLS: the node certificate and the identity that
        // issued it, checked by callers against our binding's key (protocol.md §6.2).
        ucfg.tls = sip::TlsCredentials{dtls_.certificate_pem, dtls_.private_key_pem};
        ucfg.tls_port = options_.tls_port   ? options_.tls_port
                        : options_.sip_port ? static_cast<std::uint16_t>(options_.sip_port + 1)
                                            : 0;
    }
    ua_ = std::make_unique<sip::UserAgent>(io_, ucfg);
    if (auto ec = ua_->start())
        return fmt::format("SIP on {}:{}: {}", options_.bind_address, options_.sip_port,
                           ec.message());
    if (auto* tls = ua_->tls_transport()) {
        tls->set_peer_verifier(
            [this](const sip::UdpEndpoint& peer, const std::vector<std::string>& chain) {
                return tls_check_.check(peer, chain);
            });
        log_->info("SIP over TLS listening on {}:{}", options_.bind_address, tls->local_port());
    }
    ua_->on_incoming([this](std::shared_ptr<sip::Session> s) { on_incoming(std::move(s)); });
    ua_->on_message([this](const sip::InstantMessage& m) {
        // Shown as text: control characters (a terminal's escape sequences) are replaced.
        std::string text = m.body.substr(0, 1000);
        for (char& c : text)
            if (static_cast<unsigned char>(c) < 0x20 && c != '\n') c = '?';
        log_->info("message from {} ({}): {}", m.from_aor, m.content_type, text);
    });
    log_->info("SIP listening on udp {}:{} as {}", options_.bind_address, ua_->port(),
               ua_->contact());

    if (!options_.audio_device.empty()) {
        // Opened here once so that a wrong name fails at start, not at the first call.
        std::error_code ec;
        const bool need_in = options_.play.empty(), need_out = options_.record.empty();
        if ((need_in && !media::open_source("pa:" + options_.audio_device, ec)) ||
            (need_out && !media::open_sink("pa:" + options_.audio_device, ec)))
            return fmt::format("--audio-device '{}': {} (see 'p2psip devices')",
                               options_.audio_device, ec.message());
    }
    const bool audio = !options_.audio_device.empty() || media::portaudio_available();
    if (!audio && (options_.play.empty() || options_.record.empty()))
        log_->info("no audio device: using silence / discarding where no WAV file is given");
    signaling_ = std::make_unique<Signaling>(io_, *ua_, *dht_, options_, instance_id, log_);
    signaling_->start([this] { addresses_ready_ = true; });
    signaling_->on_contacts_changed([this] {
        if (publisher_ && !quitting_) publisher_->set_contacts(signaling_->contacts());
        if (gateway_ && !quitting_) gateway_->contacts_changed();
    });
    known_peers_ = std::make_unique<KnownPeers>(options_.data_dir / "known_peers");
    if (auto problem = known_peers_->load(); !problem.empty())
        log_->warn("ignoring bad lines: {}", problem);
    env_ = std::make_unique<CallEnv>(CallEnv{io_, *ua_, *dht_, options_, aor_, audio, log_,
                                             signaling_.get(), known_peers_.get(), &dtls_,
                                             dtls_fingerprint_, &tls_check_, {}});
    // A restarted node must continue its sequence numbers, or storage nodes that hold its
    // previous run's records keep those (protocol.md §3, "Sequence numbers").
    if (auto ec = overlay::load_value_seq(options_.data_dir, value_seq_))
        log_->warn("{}/value-seq: {}; starting OpenDHT sequence numbers at 0",
                   options_.data_dir.string(), ec.message());
    env_->next_value_seq = [this] {
        ++value_seq_;
        if (auto ec = overlay::store_value_seq(options_.data_dir, value_seq_))
            log_->warn("cannot save {}/value-seq: {}", options_.data_dir.string(), ec.message());
        return value_seq_;
    };
    if (!options_.gateway.accounts.empty()) {
        gateway_ = std::make_unique<Gateway>(
            *env_, *dht_, instance_id_, [this] { return signaling_->contacts(); },
            [this](const CallReport& r) { print_report(r); });
        if (auto err = gateway_->start(); !err.empty()) return err;
    }
    // A DHT call waits until the node has joined; a direct URI needs no DHT: dial now.
    dial_pending_ = !options_.call.empty() && !is_direct_uri(options_.call);
    if (!options_.call.empty() && !dial_pending_) asio::post(io_, [this] { dial(options_.call); });
    publish_when_joined(options_.bootstrap.empty() ? 0 : join_attempts);
    return {};
}

void Phone::publish_when_joined(int attempts_left) {
    if (quitting_) return;
    // Publish once the DHT answers and the public address is known (STUN takes one round
    // trip; it gives up after ~8 s and then the local address is published).
    if (attempts_left > 0 && (dht_->good_nodes() == 0 || !addresses_ready_)) {
        join_timer_.expires_after(join_poll);
        join_timer_.async_wait([this, attempts_left](const boost::system::error_code& ec) {
            if (!ec) publish_when_joined(attempts_left - 1);
        });
        return;
    }
    if (attempts_left == 0 && !options_.bootstrap.empty() && dht_->good_nodes() == 0)
        log_->warn("no DHT node answered yet; publishing anyway, OpenDHT keeps trying");
    else
        log_->info("joined the DHT ({} node(s) known)", dht_->good_nodes());

    overlay::PublishConfig pcfg{aor_, signaling_->contacts(), instance_id_,
                                std::chrono::seconds(options_.binding_ttl)};
    pcfg.inbox = signaling_->inbox_listening();
    pcfg.next_value_seq = env_->next_value_seq;
    publisher_ = overlay::BindingPublisher::create(*dht_, pcfg);
    publisher_->start([this](std::error_code ec) {
        if (!ec)
            log_->info("published {} -> {}", aor_, fmt::join(signaling_->contacts(), ", "));
        else if (ec == overlay::errc::name_taken)
            log_->error(
                "{} is held by another key: this node can call out but cannot be reached "
                "under that name",
                aor_);
        else
            log_->warn("publishing {} failed ({}); retrying", aor_, ec.message());
        if (dial_pending_) {
            dial_pending_ = false;
            dial(options_.call);
        }
    });
}

void Phone::dial(const std::string& target) {
    if (call_ && !call_->ended()) {
        log_->warn("a call is already in progress; hang up first");
        return;
    }
    call_ = Call::dial(*env_, target, [this](const CallReport& r) { on_call_ended(r); });
}

void Phone::answer() {
    if (call_ && call_->awaiting_answer())
        call_->answer();
    else
        log_->warn("no incoming call to answer");
}

void Phone::hangup() {
    if (call_ && !call_->ended())
        call_->hangup();
    else
        log_->warn("no call to hang up");
}

void Phone::send_message(const std::string& target, const std::string& text) {
    std::string uri_text = target;
    if (uri_text.rfind("sip:", 0) != 0 && uri_text.rfind("sips:", 0) != 0)
        uri_text = "sip:" + uri_text;
    sip::Uri uri;
    if (sip::parse_uri(uri_text, uri) || uri.host.empty()) {
        log_->warn("message: '{}' is not a SIP address", target);
        return;
    }
    if (is_direct_uri(uri_text)) return send_message_to(uri, sip::canonical_aor(uri), text);
    // An AOR: its binding in the DHT says where, as for a call.
    const std::string aor = sip::canonical_aor(uri);
    auto opts = lookup_options(options_);
    if (known_peers_) opts.pinned_owner = known_peers_->find(aor);
    overlay::lookup(*dht_, aor, opts,
                    [this, aor, text](std::error_code ec, overlay::LookupResult result) {
                        if (quitting_) return;
                        std::optional<sip::Uri> contact;
                        if (!ec && !result.bindings.empty())
                            contact = signaling_->route_to(result.bindings.front());
                        if (!contact) {
                            log_->warn("message to {} not sent: {}", aor,
                                       ec ? ec.message() : "no usable contact");
                            return;
                        }
                        send_message_to(*contact, aor, text);
                    });
}

void Phone::send_message_to(const sip::Uri& uri, const std::string& to_aor,
                            const std::string& text) {
    ua_->send_message(uri, to_aor, "text/plain;charset=utf-8", text,
                      [this, to_aor](int status, std::string reason) {
                          if (status >= 200 && status < 300)
                              log_->info("message to {} delivered ({} {})", to_aor, status, reason);
                          else
                              log_->warn("message to {} not delivered: {} {}", to_aor, status,
                                         reason);
                      });
}

void Phone::send_dtmf(const std::string& digits) {
    if (!call_ || call_->ended()) {
        log_->warn("no call to send DTMF on");
        return;
    }
    if (auto problem = call_->send_dtmf(digits); !problem.empty()) log_->warn("{}", problem);
}

void Phone::hold() {
    if (!call_ || call_->ended()) return log_->warn("no call to put on hold");
    if (auto problem = call_->hold(); !problem.empty()) log_->warn("hold: {}", problem);
}

void Phone::resume() {
    if (!call_ || call_->ended()) return log_->warn("no call to resume");
    if (auto problem = call_->resume(); !problem.empty()) log_->warn("resume: {}", problem);
}

std::string Phone::status() const {
    return fmt::format("{} | dht nodes {} | call: {}{}", aor_, dht_ ? dht_->good_nodes() : 0,
                       call_ && !call_->ended() ? call_->report().peer_aor : "none",
                       gateway_ ? gateway_->status() : "");
}

void Phone::on_incoming(std::shared_ptr<sip::Session> session) {
    if (quitting_) {
        session->reject(480, "Temporarily Unavailable");
        return;
    }
    if (gateway_ && gateway_->serves(session->to_aor())) {
        gateway_->on_overlay_invite(std::move(session));  // for a phone registered here
        return;
    }
    // The dialog is for us only if its To names the AOR we hold, or our contact address
    // itself for a direct call (sip:bob@192.0.2.7): a contact URI can be reused by another
    // node after a restart, so anything else is not ours (RFC 3261 §8.2.2.1 in spirit).
    if (session->to_aor() != aor_ && session->to_aor() != sip::canonical_aor(ua_->contact())) {
        log_->info("rejecting call for {}: 404, this node holds {}", session->to_aor(), aor_);
        session->reject(404, "Not Found");
        return;
    }
    if (call_ && !call_->ended()) {
        log_->info("busy: rejecting call from {} with 486", session->from_aor());
        session->reject(486, "Busy Here");
        return;
    }
    call_ = Call::incoming(*env_, std::move(session),
                           [this](const CallReport& r) { on_call_ended(r); });
}

void Phone::print_report(const CallReport& report) {
    std::fputs(to_text(report).c_str(), stdout);
    std::fflush(stdout);
    if (!options_.report_file.empty()) {
        std::ofstream out(options_.report_file, std::ios::app);
        out << to_json(report) << '\n';
        if (!out) log_->error("cannot write report to {}", options_.report_file);
    }
}

void Phone::on_call_ended(const CallReport& report) {
    print_report(report);
    // The call object is still on the stack of its own callback: release it later.
    asio::post(io_, [this, report] {
        if (!options_.call.empty() && !options_.keep_running)
            // Success is a call that got as far as audio; an answered call whose media never
            // started (ICE or DTLS failed) is a failure.
            quit(report.answered && report.status < 300 && report.media_started ? 0 : 2);
    });
}

void Phone::quit(int exit_code) {
    if (quitting_) return;
    quitting_ = true;
    exit_code_ = exit_code;
    join_timer_.cancel();
    if (call_ && !call_->ended()) call_->hangup("node shutting down");
    if (gateway_) gateway_->stop();  // withdraws the phones' bindings too
    auto finish = [this] {
        quit_timer_.cancel();
        if (ua_) ua_->stop();
        if (dht_) dht_->stop();
        io_.stop();
    };
    // Withdraw the binding so callers stop finding us; give the DHT and a BYE 2 s at most.
    quit_timer_.expires_after(std::chrono::seconds(2));
    quit_timer_.async_wait([finish](const boost::system::error_code& ec) {
        if (!ec) finish();
    });
    if (publisher_)
        publisher_->withdraw([this, finish] {
            log_->info("binding withdrawn");
            // Let a BYE retransmission or its 200 OK get through before the sockets close.
            quit_timer_.expires_after(std::chrono::milliseconds(200));
            quit_timer_.async_wait([finish](const boost::system::error_code& ec) {
                if (!ec) finish();
            });
        });
}

}  // namespace p2psip::node
