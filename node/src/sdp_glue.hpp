#pragma once
#include <optional>
#include <string>
#include <vector>

#include "p2psip/media/srtp.hpp"
#include "p2psip/nat/candidate.hpp"
#include "p2psip/sip/sdp.hpp"

namespace p2psip::node {

// What this side puts into its SDP: ICE (RFC 8839), SDES (RFC 4568), codecs (RFC 7587/3551).
struct LocalMedia {
    bool use_ice = true;  // false: a plain path to a peer without ICE (address/port below)
    nat::IceCredentials ice;
    std::vector<nat::Candidate> candidates;
    std::string address;
    std::uint16_t port = 0;
    std::optional<media::SrtpKeyMaterial> key;  // nullopt: plaintext RTP/AVP
    int crypto_tag = 1;
    std::vector<sip::sdp::Codec> codecs;
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
    sip::sdp::Codec codec;  // the one both sides use
    int dtmf_pt = -1;       // RFC 4733 telephone-event at codec.clock; -1: not negotiated
};

// From the negotiated list: the first audio codec and the telephone-event at its clock;
// `answer_list` (optional) gets what an answer should list. False without an audio codec.
bool pick_codecs(const std::vector<sip::sdp::Codec>& common, RemoteMedia& remote,
                 std::vector<sip::sdp::Codec>* answer_list);

// Codec table in the user's preference order ("opus", "pcmu").
std::vector<sip::sdp::Codec> codec_table(const std::vector<std::string>& preference);

std::string build_offer(const LocalMedia& local);

// Whether an SDP offers ICE (RFC 8839 credentials); plain SIP phones and sipp do not.
bool sdp_uses_ice(const std::string& sdp_text);

// Answers `offer_text` (RFC 3264 §6). On failure returns false with `status`/`why`
// set to the SIP answer the offer deserves (488 Not Acceptable Here, 400...).
// When the offer uses SDES the answer reuses its tag and suite with our own key (kept when
// `local` already has one of that suite: a re-offer in the same session).
bool build_answer(const std::string& offer_text, LocalMedia& local, bool allow_plaintext,
                  RemoteMedia& remote, std::string& answer, int& status, std::string& why);

// Reads the answer to our offer; false with `why` when it cannot be used.
bool read_answer(const std::string& answer_text, const LocalMedia& local, RemoteMedia& remote,
                 std::string& why);

}  // namespace p2psip::node
