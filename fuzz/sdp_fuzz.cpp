// libFuzzer target: the SDP parser (RFC 4566) and the offer/answer helpers on what it
// accepts. Invariants are checked with __builtin_trap().

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "p2psip/sip/sdp.hpp"

using namespace p2psip::sip;

namespace {

void check(bool ok) {
    if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    sdp::SessionDescription sd;
    if (sdp::parse(in, sd)) return 0;

    // What we print, we parse again to the same text.
    std::string text = sdp::to_string(sd);
    sdp::SessionDescription again;
    check(!sdp::parse(text, again));
    check(sdp::to_string(again) == text);

    for (const auto& m : sd.media) {
        auto list = sdp::codecs(m);
        (void)sdp::direction(m, &sd);
        auto common = sdp::negotiate(list, {{0, "PCMU", 8000, 1, ""}, {111, "opus", 48000, 2, ""}});
        check(common.size() <= list.size());
    }
    sdp::RemoteAudio remote;
    (void)sdp::audio_stream(sd, remote);

    sdp::AudioParams local;
    local.port = 40000;
    local.session_id = 1;
    local.codecs = {{0, "PCMU", 8000, 1, ""}, {8, "PCMA", 8000, 1, ""}};
    sdp::SessionDescription answer;
    if (!sdp::make_answer(sd, local, answer)) {
        sdp::SessionDescription parsed;
        check(!sdp::parse(sdp::to_string(answer), parsed));
    }
    return 0;
}
