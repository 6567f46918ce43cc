#include "p2psip/media/error.hpp"

#include <string>

namespace p2psip::media {
namespace {

class MediaCategory final : public std::error_category {
  public:
    const char* name() const noexcept override { return "p2psip.media"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
            case errc::malformed_packet:
                return "malformed RTP/RTCP packet";
            case errc::buffer_too_small:
                return "buffer too small";
            case errc::invalid_argument:
                return "invalid argument";
            case errc::unsupported_suite:
                return "unsupported SRTP crypto suite";
            case errc::bad_crypto_attribute:
                return "malformed a=crypto attribute";
            case errc::srtp_failure:
                return "SRTP failure";
            case errc::srtp_auth_failed:
                return "SRTP authentication failed";
            case errc::srtp_replay:
                return "SRTP replay check failed";
            case errc::random_failure:
                return "random number generator failure";
            case errc::unsupported_codec:
                return "unsupported codec";
            case errc::codec_failure:
                return "codec failure";
            case errc::file_open_failed:
                return "cannot open audio file";
            case errc::file_io_failed:
                return "audio file I/O error";
            case errc::no_audio_device:
                return "no audio device";
            case errc::audio_device_failure:
                return "audio device failure";
            case errc::bad_device_spec:
                return "bad audio device spec";
            case errc::already_started:
                return "already started";
            case errc::not_an_audio_signal:
                return "no audio signal";
            case errc::not_running:
                return "media session not running";
            case errc::dtmf_not_negotiated:
                return "no telephone-event payload type negotiated";
            case errc::queue_full:
                return "DTMF queue full";
            case errc::dtls_failure:
                return "DTLS failure";
            case errc::dtls_timeout:
                return "DTLS handshake timed out";
            case errc::dtls_fingerprint_mismatch:
                return "peer certificate does not match a=fingerprint";
            case errc::dtls_no_srtp_profile:
                return "no common DTLS-SRTP protection profile";
            case errc::bad_fingerprint_attribute:
                return "malformed a=fingerprint attribute";
            case errc::dtls_closed:
                return "DTLS session closed";
            case errc::dtls_bad_chain:
                return "peer certificate is not signed by the certificate sent as its issuer";
        }
        return "unknown media error";
    }
};

}  // namespace

const std::error_category& media_category() noexcept {
    static const MediaCategory category;
    return category;
}

std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), media_category()};
}

}  // namespace p2psip::media
