#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace p2psip::node {

// What a user wants to know after a call; printed at its end, optionally saved as JSON.
struct CallReport {
    std::string direction;  // "outgoing" | "incoming"
    std::string local_aor, peer_aor, peer_contact, call_id;
    bool answered = false;
    int status = 0;          // final SIP status of the INVITE (200, 404, 486...)
    std::string end_reason;  // human: "hung up locally", "BYE from peer", "404 Not Found: ..."
    std::optional<double> lookup_ms, ringing_ms, answer_ms, ice_ms;  // from dial
    std::optional<double> audio_ms;  // from dial to audio flowing (after DTLS, if any)
    std::string ice_pair;            // "host 127.0.0.1:x <-> host 127.0.0.1:y"
    std::string local_candidate, remote_candidate;  // type of each side: host/srflx/prflx/relay
    std::string signaling;                 // "direct" or "dht" (SIP only got through the DHT)
    std::string sip_transport;             // "UDP", "TCP" or "TLS": how the dialog's SIP travels
    std::size_t sip_via_dht = 0;           // SIP messages of this call received through the DHT
    int ice_restarts = 0;                  // completed ICE restarts (re-INVITE after the path died)
    std::string dtmf_sent, dtmf_received;  // RFC 4733 digits, in order
    std::string codec;                     // "opus/48000/2 (pt 111)"
    bool srtp = false;
    std::string srtp_suite;
    bool media_started = false;  // the audio session ran
    std::string keying;          // "dtls-srtp", "sdes-srtp" or "none"
    std::string dtls_peer;       // DTLS: how the peer's certificate was checked
    std::string tls_peer;        // SIP over TLS: how the peer's certificate was checked
    std::uint64_t packets_sent = 0, packets_received = 0, packets_lost = 0;
    std::uint64_t srtp_auth_failures = 0;
    double jitter_ms = 0;
    double media_seconds = 0;
    std::optional<double> rtt_ms;  // from RTCP
    double playout_delay_ms = 0;   // mean jitter-buffer delay
    double mos = 0;                // ITU-T G.107 E-model estimate (0: no media)
    int holds = 0;                 // times the call was put on hold (either side)
    // Calls relayed for a registered phone (gateway): the phone's side.
    std::string phone;         // e.g. "sip:alice@example.org at sip:alice@10.0.0.9:5060"
    std::string phone_codec;   // codec on the phone leg
    std::string phone_srtp;    // "sdes-srtp (AES_CM_128_HMAC_SHA1_80)" or "none"
    bool transcoding = false;  // the two legs share no codec
    std::uint64_t relayed_to_phone = 0, relayed_from_phone = 0;  // RTP/RTCP datagrams
};

std::string to_text(const CallReport& r);
std::string to_json(const CallReport& r);  // one line

}  // namespace p2psip::node
