#include "sdp_glue.hpp"

#include <algorithm>
#include <optional>
#include <string_view>

namespace p2psip::node {

namespace sdp = sip::sdp;

const char* to_string(Keying k) {
    switch (k) {
        case Keying::sdes:
            return "sdes-srtp";
        case Keying::dtls:
            return "dtls-srtp";
        case Keying::none:
            break;
    }
    return "none";
}

std::vector<sdp::Codec> codec_table(const std::vector<std::string>& preference) {
    std::vector<sdp::Codec> out;
    for (const auto& name : preference) {
        // RFC 7587 §7: Opus is always signalled as opus/48000/2.
        if (name == "opus") out.push_back({111, "opus", 48000, 2, "useinbandfec=1"});
        if (name == "pcmu") out.push_back({0, "PCMU", 8000, 1, ""});
        if (name == "pcma") out.push_back({8, "PCMA", 8000, 1, ""});
    }
    // RFC 4733 §7.1.1: DTMF events at the clock of each audio codec offered.
    bool wide = false, narrow = false;
    for (const auto& c : out) (c.clock == 48000 ? wide : narrow) = true;
    if (wide) out.push_back({101, "telephone-event", 48000, 1, "0-16"});
    if (narrow) out.push_back({100, "telephone-event", 8000, 1, "0-16"});
    return out;
}

bool sends(sdp::Direction local, sdp::Direction remote) {
    return (local == sdp::Direction::sendrecv || local == sdp::Direction::sendonly) &&
           (remote == sdp::Direction::sendrecv || remote == sdp::Direction::recvonly);
}

bool receives(sdp::Direction local, sdp::Direction remote) {
    return (local == sdp::Direction::sendrecv || local == sdp::Direction::recvonly) &&
           (remote == sdp::Direction::sendrecv || remote == sdp::Direction::sendonly);
}

bool is_dtmf(const sdp::Codec& c) {
    return c.name.size() == 15 && std::equal(c.name.begin(), c.name.end(), "telephone-event",
                                             [](char a, char b) { return std::tolower(a) == b; });
}

bool same_codec(const sdp::Codec& a, const sdp::Codec& b) {
    return a.clock == b.clock && a.name.size() == b.name.size() &&
           std::equal(a.name.begin(), a.name.end(), b.name.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

bool pick_codecs(const std::vector<sdp::Codec>& common, RemoteMedia& remote,
                 std::vector<sdp::Codec>* answer_list) {
    auto audio = std::find_if(common.begin(), common.end(), [](auto& c) { return !is_dtmf(c); });
    if (audio == common.end()) return false;
    remote.codec = *audio;
    remote.dtmf_pt = -1;
    for (const auto& c : common)
        if (is_dtmf(c) && c.clock == audio->clock && remote.dtmf_pt < 0) remote.dtmf_pt = c.pt;
    if (answer_list) {
        answer_list->clear();
        for (const auto& c : common)
            if (!is_dtmf(c) || c.pt == remote.dtmf_pt) answer_list->push_back(c);
    }
    return true;
}

namespace {

sdp::AudioParams audio_params(const LocalMedia& local) {
    sdp::AudioParams p;
    // RFC 8839 §4.2.1.2: m=/c= carry the default candidate (our first host candidate).
    if (!local.use_ice) {
        p.address = local.address;
        p.port = local.port;
    } else if (!local.candidates.empty()) {
        p.address = local.candidates.front().address;
        p.port = local.candidates.front().port;
    }
    p.codecs = local.codecs;
    p.direction = local.direction;
    p.ptime = 20;
    const bool secure = local.key || !local.fingerprint.empty();
    p.proto = secure ? "RTP/SAVP" : "RTP/AVP";
    p.username = "p2psip";
    p.attributes.push_back({"rtcp-mux", "", true});
    if (local.key)
        p.attributes.push_back(
            {"crypto", media::format_crypto_attribute(local.crypto_tag, *local.key), false});
    if (!local.fingerprint.empty()) {
        // RFC 8122 §5, RFC 5763 §5. Offered beside a=crypto on RTP/SAVP, so a phone without
        // DTLS still finds its SDES key; a DTLS answer discards that key unused.
        p.attributes.push_back({"fingerprint", local.fingerprint, false});
        p.attributes.push_back({"setup", local.setup, false});
    }
    if (!local.use_ice) return p;
    p.attributes.push_back({"ice-ufrag", local.ice.ufrag, false});
    p.attributes.push_back({"ice-pwd", local.ice.pwd, false});
    for (const auto& c : local.candidates)
        p.attributes.push_back({"candidate", nat::to_sdp_attribute_value(c), false});
    return p;
}

// ICE credentials may sit at media or session level (RFC 8839 §5.4). Without any, the
// peer is a plain phone: media goes to the m=/c= address (RFC 3264 §5).
bool read_ice(const sdp::SessionDescription& sd, const sdp::RemoteAudio& audio, RemoteMedia& remote,
              std::string& why) {
    const auto& m = *audio.media;
    auto ufrag = m.attribute("ice-ufrag");
    if (!ufrag) ufrag = sd.attribute("ice-ufrag");
    auto pwd = m.attribute("ice-pwd");
    if (!pwd) pwd = sd.attribute("ice-pwd");
    remote.address = audio.address;
    remote.port = audio.port;
    if (!ufrag && !pwd) {
        remote.use_ice = false;
        remote.candidates.clear();
        if (remote.address.empty() || remote.port == 0) {
            why = "the peer's SDP has neither ICE nor a media address";
            return false;
        }
        return true;
    }
    remote.use_ice = true;
    if (!ufrag || !pwd) {
        why = "the peer's ICE credentials are incomplete (a=ice-ufrag/a=ice-pwd)";
        return false;
    }
    remote.ice = {*ufrag, *pwd};
    if (nat::validate_credentials(remote.ice)) {
        why = "the peer's ICE credentials are malformed";
        return false;
    }
    remote.candidates.clear();
    for (const auto& value : m.attributes_named("candidate")) {
        nat::Candidate c;
        if (!nat::parse_candidate_attribute(value, c) && c.component == 1)
            remote.candidates.push_back(std::move(c));
    }
    if (remote.candidates.empty()) {
        why = "the peer offers no usable ICE candidate";
        return false;
    }
    return true;
}

// a=fingerprint and a=setup, at media level or else session level (RFC 8122 §5).
std::optional<std::string> media_or_session(const sdp::SessionDescription& sd, const sdp::Media& m,
                                            std::string_view name) {
    if (auto v = m.attribute(name)) return std::string(*v);
    if (auto v = sd.attribute(name)) return std::string(*v);
    return std::nullopt;
}

bool is_dtls_proto(std::string_view proto) {
    return proto == "UDP/TLS/RTP/SAVP" || proto == "UDP/TLS/RTP/SAVPF";
}

}  // namespace

bool sdp_uses_ice(const std::string& sdp_text) {
    sdp::SessionDescription sd;
    if (sdp::parse(sdp_text, sd)) return false;
    if (sd.attribute("ice-ufrag")) return true;
    for (const auto& m : sd.media)
        if (m.attribute("ice-ufrag")) return true;
    return false;
}

std::string build_offer(const LocalMedia& local) {
    return sdp::to_string(sdp::make_offer(audio_params(local)));
}

bool build_answer(const std::string& offer_text, LocalMedia& local, bool allow_plaintext,
                  RemoteMedia& remote, std::string& answer, int& status, std::string& why) {
    sdp::SessionDescription offer;
    if (sdp::parse(offer_text, offer)) {
        status = 400;
        why = "Malformed SDP";
        return false;
    }
    sdp::RemoteAudio audio;
    if (sdp::audio_stream(offer, audio) || !audio.media) {
        status = 488;
        why = "No audio stream offered";
        return false;
    }
    const auto& m = *audio.media;
    const auto common = sdp::negotiate(audio.codecs, local.codecs);
    remote.offered = common;
    remote.direction = audio.direction;
    std::vector<sdp::Codec> answer_codecs;
    if (!pick_codecs(common, remote, &answer_codecs)) {
        status = 488;
        why = "No common codec";
        return false;
    }

    remote.key.reset();
    remote.keying = Keying::none;
    const auto fingerprint = media_or_session(offer, m, "fingerprint");
    const auto setup = media_or_session(offer, m, "setup").value_or("active");  // RFC 5763 §5
    if (fingerprint && !local.fingerprint.empty() && setup != "holdconn") {
        // RFC 5763 §5: the answerer should be active (the DTLS client) unless the offerer
        // insists on being active itself.
        remote.keying = Keying::dtls;
        remote.fingerprint = *fingerprint;
        remote.dtls_client = setup != "active";
        local.setup = remote.dtls_client ? "active" : "passive";
        local.key.reset();  // no a=crypto in the answer: the keys come from the handshake
    } else if (is_dtls_proto(m.proto)) {
        status = 488;
        why = fingerprint ? "DTLS-SRTP not available" : "DTLS offer without a=fingerprint";
        return false;
    }
    // RFC 4568 §7.1.2: pick the first crypto line we support; answer with its tag and suite.
    // Crypto lines in an RTP/AVP offer are "best effort" SRTP (baresip's mediaenc=srtp):
    // taken as well, so such a phone gets SRTP rather than plaintext.
    const bool savp = m.proto == "RTP/SAVP" || m.proto == "RTP/SAVPF";
    if (remote.keying == Keying::dtls) {
        // keyed by the handshake
    } else if (savp || !m.attributes_named("crypto").empty()) {
        for (const auto& value : m.attributes_named("crypto")) {
            int tag = 0;
            media::SrtpKeyMaterial key;
            if (media::parse_crypto_attribute(value, tag, key)) continue;
            // A re-offer in the same session (e.g. an ICE restart) keeps our key.
            auto mine = local.key && local.key->suite == key.suite ? local.key
                                                                   : media::generate_key(key.suite);
            if (!mine) continue;
            remote.key = key;
            remote.crypto_tag = tag;
            local.key = *mine;
            local.crypto_tag = tag;
            break;
        }
        if (!remote.key) {
            status = 488;
            why = "No supported SRTP crypto suite";
            return false;
        }
        remote.keying = Keying::sdes;
    } else {
        if (!allow_plaintext) {
            status = 488;
            why = "Plaintext RTP refused (SRTP required)";
            return false;
        }
        local.key.reset();
    }
    if (!read_ice(offer, audio, remote, why)) {
        status = 488;
        return false;
    }
    LocalMedia shown = local;  // the answer carries our fingerprint only when DTLS is chosen
    if (remote.keying != Keying::dtls) shown.fingerprint.clear();
    auto params = audio_params(shown);
    params.codecs = answer_codecs;
    params.proto = m.proto;  // RFC 3264 §6: the answer keeps the offer's transport
    sdp::SessionDescription out;
    if (sdp::make_answer(offer, params, out)) {
        status = 488;
        why = "Offer cannot be answered";
        return false;
    }
    answer = sdp::to_string(out);
    // What we declared: RFC 3264 §6.1 from the offer's direction and the one we want.
    local.direction = sdp::answer_direction(audio.direction, local.direction);
    return true;
}

bool read_answer(const std::string& answer_text, const LocalMedia& local, RemoteMedia& remote,
                 std::string& why) {
    sdp::SessionDescription sd;
    if (sdp::parse(answer_text, sd)) {
        why = "the answer's SDP is malformed";
        return false;
    }
    sdp::RemoteAudio audio;
    if (sdp::audio_stream(sd, audio) || !audio.media || audio.port == 0) {
        why = "the answer rejected the audio stream";
        return false;
    }
    const auto common = sdp::negotiate(audio.codecs, local.codecs);
    if (!pick_codecs(common, remote, nullptr)) {
        why = "the answer names no codec we offered";
        return false;
    }
    remote.offered = common;
    remote.direction = audio.direction;
    remote.key.reset();
    remote.keying = Keying::none;
    const auto fingerprint = media_or_session(sd, *audio.media, "fingerprint");
    if (fingerprint && !local.fingerprint.empty()) {
        // RFC 5763 §5: the answerer is active or passive; we take the other role.
        const auto setup = media_or_session(sd, *audio.media, "setup").value_or("active");
        if (setup != "active" && setup != "passive") {
            why = "the answer's a=setup is '" + setup + "' (must be active or passive)";
            return false;
        }
        remote.keying = Keying::dtls;
        remote.fingerprint = *fingerprint;
        remote.dtls_client = setup == "passive";
    } else if (local.key) {
        for (const auto& value : audio.media->attributes_named("crypto")) {
            int tag = 0;
            media::SrtpKeyMaterial key;
            if (media::parse_crypto_attribute(value, tag, key)) continue;
            if (tag == local.crypto_tag && key.suite == local.key->suite) {
                remote.key = key;
                remote.crypto_tag = tag;
                break;
            }
        }
        if (!remote.key) {
            why = "the answer accepted no SRTP key we offered";
            return false;
        }
        remote.keying = Keying::sdes;
    } else if (!local.fingerprint.empty()) {
        why = "the answer has neither a=fingerprint nor a=crypto";
        return false;
    }
    return read_ice(sd, audio, remote, why);
}

}  // namespace p2psip::node
