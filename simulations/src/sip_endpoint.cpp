#include "sip_endpoint.hpp"

#include <fmt/format.h>

#include <chrono>

#include "node.hpp"
#include "p2psip/sip/message.hpp"
#include "p2psip/sip/sdp.hpp"
#include "p2psip/sip/uri.hpp"

namespace p2psip::sim {

namespace {
constexpr std::int64_t t1_ms = 500;              // RFC 3261 §17.1.1.1
constexpr std::int64_t t2_ms = 4000;             // RFC 3261 §17.1.2.2
constexpr std::int64_t timer_b_ms = 64 * t1_ms;  // RFC 3261 §17.1.1.2 (and Timer H, §17.2.1)

std::string dotted(std::uint32_t addr) {
    return fmt::format("{}.{}.{}.{}", addr >> 24, (addr >> 16) & 255, (addr >> 8) & 255,
                       addr & 255);
}

// An audio offer/answer as a phone would send (PCMU, PCMA, telephone-event).
std::string audio_sdp(std::uint32_t addr, std::uint32_t session) {
    sip::sdp::SessionDescription sd;
    sd.origin.session_id = std::to_string(session);
    sd.origin.address = dotted(addr);
    sd.connection = sip::sdp::Connection{"IN", "IP4", dotted(addr)};
    sip::sdp::Media m;
    m.port = 4000;
    m.formats = {"0", "8", "101"};
    m.attributes = {{"rtpmap", "0 PCMU/8000", false},
                    {"rtpmap", "8 PCMA/8000", false},
                    {"rtpmap", "101 telephone-event/8000", false},
                    {"sendrecv", "", true}};
    sd.media.push_back(std::move(m));
    return sip::sdp::to_string(sd);
}
}  // namespace

std::string SipEndpoint::token() {
    return fmt::format("{:016x}", node_.rng());
}

void SipEndpoint::invite(std::string_view contact, std::string_view aor, Done done) {
    sip::Uri uri;
    std::uint32_t callee = 0;
    if (sip::parse_uri(contact, uri) || !node_.sim.node_at(uri.host, callee)) {
        done(404);  // nothing we could send to
        return;
    }
    const std::string call_id = token() + "@" + dotted(node_.addr);
    const std::string from = fmt::format("<{}>;tag={}", node_.aor, token().substr(0, 8));
    const std::string via =
        fmt::format("SIP/2.0/UDP {}:5060;branch=z9hG4bK{}", dotted(node_.addr), token());
    auto msg = sip::OutgoingMessage::request("INVITE", std::string(contact));
    msg.add("Via", via)
        .add("Max-Forwards", "70")
        .add("From", from)
        .add("To", fmt::format("<{}>", aor))
        .add("Call-ID", call_id)
        .add("CSeq", "1 INVITE")
        .add("Contact", fmt::format("<{}>", node_.contact()))
        .set_body(audio_sdp(node_.addr, node_.session), "application/sdp");
    Client c;
    c.invite = msg.to_string();
    c.to = callee;
    c.interval_ms = t1_ms;
    c.done = std::move(done);
    node_.sim.send_sip(node_, callee, c.invite);
    clients_.emplace(call_id, std::move(c));
    node_.call_after(std::chrono::milliseconds(t1_ms),
                     [this, call_id] { retransmit_invite(call_id); });
    // Timer B: no final response in 64*T1 ends the attempt (RFC 3261 §17.1.1.2).
    node_.call_after(std::chrono::milliseconds(timer_b_ms), [this, call_id] {
        auto it = clients_.find(call_id);
        if (it == clients_.end()) return;
        auto done = std::move(it->second.done);
        const bool final = it->second.final;
        clients_.erase(it);
        if (!final && done) done(408);
    });
}

void SipEndpoint::retransmit_invite(const std::string& call_id) {
    auto it = clients_.find(call_id);
    if (it == clients_.end() || it->second.final) return;
    auto& c = it->second;
    node_.sim.send_sip(node_, c.to, c.invite, true);
    c.interval_ms *= 2;  // Timer A doubles (RFC 3261 §17.1.1.2)
    node_.call_after(std::chrono::milliseconds(c.interval_ms),
                     [this, call_id] { retransmit_invite(call_id); });
}

void SipEndpoint::retransmit_response(const std::string& call_id) {
    auto it = servers_.find(call_id);
    if (it == servers_.end() || it->second.acked) return;
    auto& s = it->second;
    node_.sim.send_sip(node_, s.to, s.response, true);
    s.interval_ms = std::min(2 * s.interval_ms, t2_ms);  // RFC 3261 §13.3.1.4
    node_.call_after(std::chrono::milliseconds(s.interval_ms),
                     [this, call_id] { retransmit_response(call_id); });
}

void SipEndpoint::on_datagram(const std::uint8_t* data, std::size_t size, const Node& from) {
    sip::Message msg;
    // Malformed: dropped (nothing in the simulation sends one).
    if (sip::parse_message(std::string(reinterpret_cast<const char*>(data), size), msg)) return;
    if (msg.is_request())
        on_request(msg, from);
    else
        on_response(msg);
}

void SipEndpoint::on_request(const sip::Message& msg, const Node& from) {
    const std::string call_id(msg.call_id());
    if (msg.method() == "ACK") {
        auto it = servers_.find(call_id);
        if (it != servers_.end()) it->second.acked = true;
        return;
    }
    if (msg.method() != "INVITE") return;
    if (auto it = servers_.find(call_id); it != servers_.end()) {
        // A retransmitted INVITE: the answer again (RFC 3261 §17.2.1).
        node_.sim.send_sip(node_, from.index, it->second.response, true);
        return;
    }
    // The Request-URI is the contact of a binding: it reaches this phone only if it names
    // this phone's current session (a contact from an earlier session is stale: that
    // phone instance, and its transport, are gone).
    sip::Uri target;
    const bool mine = !sip::parse_uri(msg.request_uri(), target) &&
                      "sip:" + target.user + "@sim.example" == node_.aor &&
                      target.param("sim-session") == std::to_string(node_.session);
    Server s;
    s.to = from.index;
    s.interval_ms = t1_ms;
    if (!mine) {
        // Not this phone, or not this session of it.
        s.response = sip::make_response(msg, 404, {}, token().substr(0, 8)).to_string();
        s.acked = true;  // non-2xx: the caller's ACK is hop-by-hop, nothing to wait for
        node_.sim.send_sip(node_, from.index, s.response);
        servers_.emplace(call_id, std::move(s));
    } else {
        auto ok = sip::make_response(msg, 200, {}, token().substr(0, 8));
        ok.add("Contact", fmt::format("<{}>", node_.contact()))
            .set_body(audio_sdp(node_.addr, node_.session), "application/sdp");
        s.response = ok.to_string();
        node_.sim.send_sip(node_, from.index, s.response);
        servers_.emplace(call_id, std::move(s));
        node_.call_after(std::chrono::milliseconds(t1_ms),
                         [this, call_id] { retransmit_response(call_id); });
    }
    // Forget the dialog once no retransmission can arrive any more (Timer H / J).
    node_.call_after(std::chrono::milliseconds(timer_b_ms),
                     [this, call_id] { servers_.erase(call_id); });
}

void SipEndpoint::on_response(const sip::Message& msg) {
    auto it = clients_.find(msg.call_id());
    if (it == clients_.end() || msg.cseq().method != "INVITE" || msg.status() < 200) return;
    auto& c = it->second;
    if (c.ack.empty()) {
        // RFC 3261 §17.1.1.3: the ACK of a non-2xx reuses the INVITE's branch; the ACK of
        // a 2xx is a new transaction (§13.2.2.4), with a new branch.
        const std::string branch =
            msg.status() < 300 ? "z9hG4bK" + token() : std::string(msg.via().branch);
        const auto to = msg.header("To").value_or("");
        sip::Message invite;
        if (sip::parse_message(c.invite, invite)) return;
        // The ACK of a 2xx goes to the remote target, the 2xx's Contact (RFC 3261
        // §13.2.2.4, §12.2.1.1); the ACK of a non-2xx to the INVITE's Request-URI.
        std::string request_uri(invite.request_uri());
        if (msg.status() < 300)
            if (auto contact = msg.contact()) request_uri = contact->uri.to_string();
        auto ack = sip::OutgoingMessage::request("ACK", request_uri);
        ack.add("Via", fmt::format("SIP/2.0/UDP {}:5060;branch={}", dotted(node_.addr), branch))
            .add("Max-Forwards", "70")
            .add("From", std::string(invite.header("From").value_or("")))
            .add("To", std::string(to))
            .add("Call-ID", std::string(msg.call_id()))
            .add("CSeq", "1 ACK");
        c.ack = ack.to_string();
    }
    // Every 2xx (retransmissions too) gets the ACK again (RFC 3261 §13.2.2.4).
    node_.sim.send_sip(node_, c.to, c.ack, c.final);
    if (c.final) return;
    c.final = true;
    if (auto done = std::move(c.done)) done(msg.status());
}

}  // namespace p2psip::sim
