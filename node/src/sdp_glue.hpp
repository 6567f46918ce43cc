#pragma once
#include <optional>
#include <string>
#include <vector>

#include "p2psip/media/srtp.hpp"
#include "p2psip/nat/candidate.hpp"
#include "p2psip/sip/sdp.hpp"

namespace p2psip::node {

// How a call's SRTP keys are agreed.
enum class Keying { none, sdes, dtls };
const char* to_string(Keying k);

// What this side puts into its SDP: ICE (RFC 8839), SDES (RFC 4568), DTLS-SRTP (RFC 5763),
// codecs (RFC 7587/3551).
struct LocalMedia {
    bool use_ice = true;  // false: a plain path to a peer without ICE (address/port below)
    nat::IceCredentials ice;
    std::vector<nat::Candidate> candidates;
    std::string address;
    std::uint16_t port = 0;
    std::optional<media::SrtpKeyMaterial> key;  // nullopt: plaintext RTP/AVP
    int crypto_tag = 1;
    // Our certificate's a=fingerprint value ("sha-256 AB:..."); empty: no DTLS-SRTP offered.
    std::string fingerprint;
    // RFC 4145 §4 a=setup: "actpass" in offers; in an answer that took DTLS, "active" or
    // "passive" (set by build_answer).
    std::string setup = "actpass";
    std::vector<sip::sdp::Codec> codecs;
    // RFC 3264 §5.1 direction we declare: sendonly puts the peer on hold (RFC 6337 §5.1).
    sip::sdp::Direction direction = sip::sdp::Direction::sendrecv;
};

// What the peer's SDP says, reduced to what the call needs.
struct RemoteMedia {
    bool use_ice = true;  // false: the peer's SDP has no ICE; send to address/port
    nat::IceCredentials ice;
    std::vector<nat::Candidate> candidates;
    std::string address;
    std::uint16_t port = 0;
    std::optional<media::SrtpKeyMaterial> key;
    int crypto_tag = 0;
    Keying keying = Keying::none;
    std::string fingerprint;   // the peer's a=fingerprint (DTLS)
    bool dtls_client = false;  // DTLS: we connect (our setup is active), else we accept
    sip::sdp::Codec codec;     // the one both sides use
    int dtmf_pt = -1;          // RFC 4733 telephone-event at codec.clock; -1: not negotiated
    // The direction the peer declared (its offer's or answer's a=sendonly/recvonly/...).
    sip::sdp::Direction direction = sip::sdp::Direction::sendrecv;
    // Every codec the peer listed that we know (the offer's, in its order); an answer
    // lists only what was agreed.
    std::vector<sip::sdp::Codec> offered;
};

// Whether we send / receive RTP, given what we declared and what the peer declared
// (RFC 3264 §6.1): both ends must agree on a direction for media to flow in it.
bool sends(sip::sdp::Direction local, sip::sdp::Direction remote);
bool receives(sip::sdp::Direction local, sip::sdp::Direction remote);

// RFC 4733 telephone-event (any clock), by encoding name in any case.
bool is_dtmf(const sip::sdp::Codec& c);
// The same encoding (name in any case) at the same RTP clock.
bool same_codec(const sip::sdp::Codec& a, const sip::sdp::Codec& b);

// From the negotiated list: the first audio codec and the telephone-event at its clock;
// `answer_list` (optional) gets what an answer should list. False without an audio codec.
bool pick_codecs(const std::vector<sip::sdp::Codec>& common, RemoteMedia& remote,
                 std::vector<sip::sdp::Codec>* answer_list);

// Codec table in the user's preference order ("opus", "pcmu", "pcma").
std::vector<sip::sdp::Codec> codec_table(const std::vector<std::string>& preference);

std::string build_offer(const LocalMedia& local);

// Whether an SDP offers ICE (RFC 8839 credentials); plain SIP phones and sipp do not.
bool sdp_uses_ice(const std::string& sdp_text);

// DTLS-SRTP is preferred: an offer with a=fingerprint is answered with ours and no
// a=crypto (RFC 5763 §5: the answerer takes setup:active); SDES is the fallback for peers
// without DTLS. An offer on UDP/TLS/RTP/SAVP(F) without a fingerprint we can use is refused.
// Answers `offer_text` (RFC 3264 §6). On failure returns false with `status`/`why`
// set to the SIP answer the offer deserves (488 Not Acceptable Here, 400...).
// When the offer uses SDES the answer reuses its tag and suite with our own key (kept when
// `local` already has one of that suite: a re-offer in the same session).
bool build_answer(const std::string& offer_text, LocalMedia& local, bool allow_plaintext,
                  RemoteMedia& remote, std::string& answer, int& status, std::string& why);

// Reads the answer to our offer; false with `why` when it cannot be used. An answer with a
// fingerprint (and a setup role) selects DTLS-SRTP, else its a=crypto selects SDES.
bool read_answer(const std::string& answer_text, const LocalMedia& local, RemoteMedia& remote,
                 std::string& why);

}  // namespace p2psip::node
