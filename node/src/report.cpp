#include "report.hpp"

#include <fmt/format.h>

namespace p2psip::node {

namespace {
std::string ms(const std::optional<double>& v) {
    return v ? fmt::format("{:.0f} ms", *v) : "-";
}
std::string json_ms(const std::optional<double>& v) {
    return v ? fmt::format("{:.1f}", *v) : "null";
}

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20)
                    out += fmt::format("\\u{:04x}", static_cast<unsigned char>(c));
                else
                    out += c;
        }
    }
    return out + "\"";
}
}  // namespace

std::string to_text(const CallReport& r) {
    std::string out = "==== call report ====\n";
    out += fmt::format("direction:      {}\n", r.direction);
    out += fmt::format("local:          {}\n", r.local_aor);
    out += fmt::format("peer:           {}{}\n", r.peer_aor,
                       r.peer_contact.empty() ? "" : " at " + r.peer_contact);
    out += fmt::format("call-id:        {}\n", r.call_id.empty() ? "-" : r.call_id);
    out += fmt::format("result:         {} (status {})\n", r.answered ? "answered" : "not answered",
                       r.status);
    out += fmt::format("ended:          {}\n", r.end_reason);
    out += fmt::format("lookup:         {}\n", ms(r.lookup_ms));
    out += fmt::format("dial->ringing:  {}\n", ms(r.ringing_ms));
    out += fmt::format("dial->answer:   {}\n", ms(r.answer_ms));
    out += fmt::format("dial->path:     {}\n", ms(r.ice_ms));
    out += fmt::format("dial->audio:    {}\n", ms(r.audio_ms));
    out += fmt::format("ice pair:       {}\n", r.ice_pair.empty() ? "-" : r.ice_pair);
    if (!r.local_candidate.empty())
        out += fmt::format("pair types:     local {} / remote {}\n", r.local_candidate,
                           r.remote_candidate);
    if (r.ice_restarts) out += fmt::format("ice restarts:   {}\n", r.ice_restarts);
    if (r.holds) out += fmt::format("holds:          {}\n", r.holds);
    if (!r.phone.empty()) {
        out += fmt::format("phone:          {}\n", r.phone);
        if (!r.phone_codec.empty())
            out += fmt::format("phone leg:      {}, srtp {}{}\n", r.phone_codec, r.phone_srtp,
                               r.transcoding ? ", transcoded" : "");
        out += fmt::format("relayed:        {} to the phone, {} from it\n", r.relayed_to_phone,
                           r.relayed_from_phone);
    }
    if (!r.dtmf_sent.empty() || !r.dtmf_received.empty())
        out +=
            fmt::format("dtmf:           sent '{}', received '{}'\n", r.dtmf_sent, r.dtmf_received);
    if (!r.sip_transport.empty()) out += fmt::format("sip transport:  {}\n", r.sip_transport);
    if (!r.signaling.empty())
        out += fmt::format("signaling:      {}{}\n", r.signaling,
                           r.sip_via_dht
                               ? fmt::format(" ({} SIP message(s) through the DHT)", r.sip_via_dht)
                               : "");
    out += fmt::format("codec:          {}\n", r.codec.empty() ? "-" : r.codec);
    out +=
        fmt::format("srtp:           {}\n",
                    r.srtp ? fmt::format("on ({}, keyed by {})", r.srtp_suite, r.keying) : "off");
    if (!r.dtls_peer.empty()) out += fmt::format("peer identity:  {}\n", r.dtls_peer);
    if (!r.tls_peer.empty()) out += fmt::format("sip tls peer:   {}\n", r.tls_peer);
    if (!r.phone.empty()) {  // a relayed call: no audio session of our own to report
        out += "=====================\n";
        return out;
    }
    out += fmt::format("packets:        sent {}, received {}, lost {}\n", r.packets_sent,
                       r.packets_received, r.packets_lost);
    out += fmt::format("jitter:         {:.1f} ms\n", r.jitter_ms);
    out += fmt::format("rtt (rtcp):     {}\n", ms(r.rtt_ms));
    out += fmt::format("playout delay:  {:.0f} ms\n", r.playout_delay_ms);
    out += fmt::format("quality (MOS):  {}\n",
                       r.mos > 0 ? fmt::format("{:.2f} (E-model estimate)", r.mos) : "-");
    out += fmt::format("media time:     {:.1f} s\n", r.media_seconds);
    out += "=====================\n";
    return out;
}

std::string to_json(const CallReport& r) {
    return fmt::format(
        "{{\"direction\":{},\"local\":{},\"peer\":{},\"peer_contact\":{},\"call_id\":{},"
        "\"answered\":{},\"status\":{},\"end_reason\":{},\"lookup_ms\":{},\"ringing_ms\":{},"
        "\"answer_ms\":{},\"media_ms\":{},\"ice_pair\":{},\"codec\":{},\"srtp\":{},"
        "\"srtp_suite\":{},\"packets_sent\":{},\"packets_received\":{},\"packets_lost\":{},"
        "\"srtp_auth_failures\":{},\"jitter_ms\":{:.2f},\"media_seconds\":{:.2f},\"rtt_ms\":{},"
        "\"playout_delay_ms\":{:.1f},\"mos\":{:.2f},\"local_candidate\":{},"
        "\"remote_candidate\":{},\"signaling\":{},\"sip_via_dht\":{},\"ice_restarts\":{},"
        "\"dtmf_sent\":{},\"dtmf_received\":{},\"keying\":{},\"dtls_peer\":{},\"audio_ms\":{},"
        "\"sip_transport\":{},\"holds\":{},\"phone\":{},\"phone_codec\":{},\"phone_srtp\":{},"
        "\"transcoding\":{},\"relayed_to_phone\":{},\"relayed_from_phone\":{},\"tls_peer\":{}}}",
        json_string(r.direction), json_string(r.local_aor), json_string(r.peer_aor),
        json_string(r.peer_contact), json_string(r.call_id), r.answered ? "true" : "false",
        r.status, json_string(r.end_reason), json_ms(r.lookup_ms), json_ms(r.ringing_ms),
        json_ms(r.answer_ms), json_ms(r.ice_ms), json_string(r.ice_pair), json_string(r.codec),
        r.srtp ? "true" : "false", json_string(r.srtp_suite), r.packets_sent, r.packets_received,
        r.packets_lost, r.srtp_auth_failures, r.jitter_ms, r.media_seconds, json_ms(r.rtt_ms),
        r.playout_delay_ms, r.mos, json_string(r.local_candidate), json_string(r.remote_candidate),
        json_string(r.signaling), r.sip_via_dht, r.ice_restarts, json_string(r.dtmf_sent),
        json_string(r.dtmf_received), json_string(r.keying), json_string(r.dtls_peer),
        json_ms(r.audio_ms), json_string(r.sip_transport), r.holds, json_string(r.phone),
        json_string(r.phone_codec), json_string(r.phone_srtp), r.transcoding ? "true" : "false",
        r.relayed_to_phone, r.relayed_from_phone, json_string(r.tls_peer));
}

}  // namespace p2psip::node
