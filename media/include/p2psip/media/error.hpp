#pragma once

#include <system_error>

namespace p2psip::media {

// Error values of the media layer; 0 is never used so a default error_code means success.
enum class errc {
    malformed_packet = 1,       // not a well-formed RTP/RTCP packet
    buffer_too_small,           // caller-provided buffer cannot hold the result
    invalid_argument,           // bad parameter (size, range, state)
    unsupported_suite,          // SRTP crypto suite not supported
    bad_crypto_attribute,       // SDES a=crypto value malformed (RFC 4568)
    srtp_failure,               // libsrtp2 reported an error other than the ones below
    srtp_auth_failed,           // authentication tag mismatch (tampered or wrong key)
    srtp_replay,                // replayed or too old packet (RFC 3711 §3.3.2)
    random_failure,             // CSPRNG unavailable
    unsupported_codec,          // codec name unknown
    codec_failure,              // encoder/decoder reported an error
    file_open_failed,           // WAV file could not be opened/created
    file_io_failed,             // read/write error on a WAV file
    no_audio_device,            // no PortAudio device (fell back to null)
    audio_device_failure,       // PortAudio error
    bad_device_spec,            // open_source/open_sink spec not understood
    already_started,            // MediaSession::start() twice
    not_an_audio_signal,        // analysis found no non-silent samples
    not_running,                // the session is not started
    dtmf_not_negotiated,        // no telephone-event payload type configured
    queue_full,                 // too many DTMF digits waiting
    dtls_failure,               // GnuTLS reported an error (handshake, alert, credentials)
    dtls_timeout,               // DTLS handshake did not finish within handshake_timeout
    dtls_fingerprint_mismatch,  // peer certificate does not match a=fingerprint (RFC 8122 §5)
    dtls_no_srtp_profile,       // no common SRTP protection profile (RFC 5764 §4.1.2)
    bad_fingerprint_attribute,  // a=fingerprint value malformed or hash unsupported
    dtls_closed,                // the session was closed before it finished
    dtls_bad_chain,             // a certificate is not signed by the one given as its issuer
};

const std::error_category& media_category() noexcept;
std::error_code make_error_code(errc e) noexcept;

}  // namespace p2psip::media

template <>
struct std::is_error_code_enum<p2psip::media::errc> : std::true_type {};
