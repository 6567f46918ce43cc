#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace p2psip::sip::sdp {

// a=name[:value]; a flag attribute (a=sendrecv) has an empty value and `flag` set.
struct Attribute {
    std::string name, value;
    bool flag = false;
};

struct Origin {  // o= (RFC 4566 §5.2)
    std::string username = "-";
    std::string session_id = "0", session_version = "0";
    std::string nettype = "IN", addrtype = "IP4", address = "127.0.0.1";
};

struct Connection {  // c= (RFC 4566 §5.7)
    std::string nettype = "IN", addrtype = "IP4", address;
};

struct Media {  // m= section (RFC 4566 §5.14)
    std::string type = "audio";
    uint16_t port = 0;
    uint16_t port_count = 0;  // "/n" after the port, 0 when absent
    std::string proto = "RTP/AVP";
    std::vector<std::string> formats;
    std::string information;  // i=
    std::optional<Connection> connection;
    std::vector<std::string> bandwidths;  // b= values
    std::vector<Attribute> attributes;    // in order

    std::optional<std::string> attribute(std::string_view name) const;  // first value
    std::vector<std::string> attributes_named(std::string_view name) const;
    bool has_attribute(std::string_view name) const { return attribute(name).has_value(); }
    void remove_attributes(std::string_view name);
};

struct SessionDescription {
    int version = 0;
    Origin origin;
    std::string session_name = "-";
    std::string information, uri;  // i=, u=
    std::vector<std::string> emails, phones;
    std::optional<Connection> connection;
    std::vector<std::string> bandwidths;
    std::vector<std::string> times{"0 0"};  // t= values
    std::vector<std::string> repeats;       // r=
    std::string zone, key;                  // z=, k=
    std::vector<Attribute> attributes;
    std::vector<Media> media;

    std::optional<std::string> attribute(std::string_view name) const;
};

// Accepts CRLF or LF line ends. Requires v=, o=, s= (RFC 4566 §5); t= is optional on input.
std::error_code parse(std::string_view text, SessionDescription& out);
std::string to_string(const SessionDescription& sd);  // CRLF line ends

// ---------------------------------------------------------------- offer/answer (RFC 3264)

struct Codec {
    int pt = 0;
    std::string name;  // encoding name, e.g. "PCMU", "opus", "telephone-event"
    int clock = 8000;
    int channels = 1;
    std::string fmtp;  // a=fmtp parameters, "" when none
};

// Codecs of a media section in format order; static payload types without rtpmap get their
// RFC 3551 names (0 PCMU, 3 GSM, 8 PCMA, 9 G722, 18 G729, ...).
std::vector<Codec> codecs(const Media& m);
// Replaces formats, rtpmap and fmtp attributes of `m` with `list`.
void set_codecs(Media& m, const std::vector<Codec>& list);
// Codecs of `offered` (offerer's payload types and order) that match `supported` by
// name (case-insensitive), clock rate and channels; fmtp taken from the offer.
std::vector<Codec> negotiate(const std::vector<Codec>& offered,
                             const std::vector<Codec>& supported);

enum class Direction { sendrecv, sendonly, recvonly, inactive };
std::string_view to_string(Direction d);
// Media-level direction attribute, else session-level, else sendrecv (RFC 4566 §6).
Direction direction(const Media& m, const SessionDescription* session = nullptr);
void set_direction(Media& m, Direction d);
// RFC 3264 §6.1: sendonly -> recvonly, recvonly -> sendonly, inactive -> inactive,
// sendrecv -> what the answerer wants.
Direction answer_direction(Direction offered, Direction wanted = Direction::sendrecv);

// One local audio stream, used to build offers and answers.
struct AudioParams {
    std::string address = "127.0.0.1";
    uint16_t port = 0;
    std::vector<Codec> codecs;  // in order of preference
    Direction direction = Direction::sendrecv;
    int ptime = 0;                      // a=ptime when > 0
    std::vector<Attribute> attributes;  // extra media attributes (ICE, crypto, ...)
    std::vector<Attribute> session_attributes;
    std::string proto = "RTP/AVP";
    std::string username = "-";
    uint64_t session_id = 0;  // 0: derived from the clock
};

SessionDescription make_offer(const AudioParams& local);
// Answers the first audio m= line with the common codecs (offerer's order); other m= lines
// are rejected with port 0 (RFC 3264 §6). Errors: sdp_no_audio, sdp_no_common_codec.
std::error_code make_answer(const SessionDescription& offer, const AudioParams& local,
                            SessionDescription& answer);

// The remote audio stream as seen in an offer or answer.
struct RemoteAudio {
    std::string address;
    uint16_t port = 0;
    std::vector<Codec> codecs;
    Direction direction = Direction::sendrecv;
    const Media* media = nullptr;  // into the SessionDescription passed in
};
std::error_code audio_stream(const SessionDescription& sd, RemoteAudio& out);

}  // namespace p2psip::sip::sdp
