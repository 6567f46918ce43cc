#include "p2psip/sip/sdp.hpp"

#include <chrono>

#include "p2psip/sip/error.hpp"
#include "text.hpp"

namespace p2psip::sip::sdp {
using namespace p2psip::sip::detail;

namespace {

std::vector<std::string_view> split_ws(std::string_view s) {
    std::vector<std::string_view> r;
    std::size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && s[i] == ' ') ++i;
        std::size_t j = i;
        while (j < s.size() && s[j] != ' ') ++j;
        if (j > i) r.push_back(s.substr(i, j - i));
        i = j;
    }
    return r;
}

bool parse_connection(std::string_view v, Connection& c) {
    auto f = split_ws(v);
    if (f.size() != 3) return false;
    c = {std::string(f[0]), std::string(f[1]), std::string(f[2])};
    return true;
}

Attribute parse_attribute(std::string_view v) {
    auto colon = v.find(':');
    if (colon == std::string_view::npos) return {std::string(v), {}, true};
    return {std::string(v.substr(0, colon)), std::string(v.substr(colon + 1)), false};
}

void write_attributes(std::string& r, const std::vector<Attribute>& attrs) {
    for (const auto& a : attrs) {
        r += "a=" + a.name;
        if (!a.flag || !a.value.empty()) r += ":" + a.value;
        r += "\r\n";
    }
}

std::string conn_line(const Connection& c) {
    return "c=" + c.nettype + " " + c.addrtype + " " + c.address + "\r\n";
}

std::optional<std::string> find_attr(const std::vector<Attribute>& attrs, std::string_view name) {
    for (const auto& a : attrs)
        if (a.name == name) return a.value;
    return std::nullopt;
}

std::optional<Direction> dir_of(const std::vector<Attribute>& attrs) {
    for (const auto& a : attrs) {
        if (a.name == "sendrecv") return Direction::sendrecv;
        if (a.name == "sendonly") return Direction::sendonly;
        if (a.name == "recvonly") return Direction::recvonly;
        if (a.name == "inactive") return Direction::inactive;
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::string> Media::attribute(std::string_view name) const {
    return find_attr(attributes, name);
}

std::vector<std::string> Media::attributes_named(std::string_view name) const {
    std::vector<std::string> r;
    for (const auto& a : attributes)
        if (a.name == name) r.push_back(a.value);
    return r;
}

void Media::remove_attributes(std::string_view name) {
    std::erase_if(attributes, [&](const Attribute& a) { return a.name == name; });
}

std::optional<std::string> SessionDescription::attribute(std::string_view name) const {
    return find_attr(attributes, name);
}

std::error_code parse(std::string_view text, SessionDescription& out) {
    out = SessionDescription{};
    out.times.clear();
    bool have_v = false, have_o = false, have_s = false;
    Media* m = nullptr;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t nl = text.find('\n', pos);
        std::string_view line =
            text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? text.size() : nl + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) continue;
        // RFC 4566 §5: <type>=<value>, type is one letter, no space around '='.
        if (line.size() < 2 || line[1] != '=' || !is_alpha(line[0])) return Errc::sdp_bad_line;
        char type = line[0];
        std::string_view v = line.substr(2);
        if (!have_v && type != 'v') return Errc::sdp_missing_field;
        if (m) {
            switch (type) {
                case 'i':
                    m->information = v;
                    break;
                case 'c': {
                    Connection c;
                    if (!parse_connection(v, c)) return Errc::sdp_bad_connection;
                    m->connection = c;
                    break;
                }
                case 'b':
                    m->bandwidths.emplace_back(v);
                    break;
                case 'a':
                    m->attributes.push_back(parse_attribute(v));
                    break;
                case 'k':
                    break;
                case 'm':
                    m = nullptr;
                    break;
                default:
                    return Errc::sdp_bad_line;
            }
            if (m) continue;
        }
        switch (type) {
            case 'v':
                if (have_v || v != "0") return Errc::sdp_bad_line;
                have_v = true;
                break;
            case 'o': {
                auto f = split_ws(v);
                if (f.size() != 6) return Errc::sdp_bad_origin;
                out.origin = {std::string(f[0]), std::string(f[1]), std::string(f[2]),
                              std::string(f[3]), std::string(f[4]), std::string(f[5])};
                have_o = true;
                break;
            }
            case 's':
                out.session_name = v;
                have_s = true;
                break;
            case 'i':
                out.information = v;
                break;
            case 'u':
                out.uri = v;
                break;
            case 'e':
                out.emails.emplace_back(v);
                break;
            case 'p':
                out.phones.emplace_back(v);
                break;
            case 'c': {
                Connection c;
                if (!parse_connection(v, c)) return Errc::sdp_bad_connection;
                out.connection = c;
                break;
            }
            case 'b':
                out.bandwidths.emplace_back(v);
                break;
            case 't':
                out.times.emplace_back(v);
                break;
            case 'r':
                out.repeats.emplace_back(v);
                break;
            case 'z':
                out.zone = v;
                break;
            case 'k':
                out.key = v;
                break;
            case 'a':
                out.attributes.push_back(parse_attribute(v));
                break;
            case 'm': {
                auto f = split_ws(v);
                if (f.size() < 3) return Errc::sdp_bad_media;
                Media md;
                md.type = f[0];
                std::string_view port = f[1];
                if (auto slash = port.find('/'); slash != std::string_view::npos) {
                    if (!parse_uint(port.substr(slash + 1), md.port_count))
                        return Errc::sdp_bad_media;
                    port = port.substr(0, slash);
                }
                if (!parse_uint(port, md.port)) return Errc::sdp_bad_media;
                md.proto = f[2];
                for (std::size_t i = 3; i < f.size(); ++i) md.formats.emplace_back(f[i]);
                out.media.push_back(std::move(md));
                m = &out.media.back();
                break;
            }
            default:
                return Errc::sdp_bad_line;
        }
    }
    if (!have_v || !have_o || !have_s) return Errc::sdp_missing_field;
    if (out.times.empty()) out.times.emplace_back("0 0");
    return {};
}

std::string to_string(const SessionDescription& sd) {
    std::string r;
    r.reserve(512);
    const auto& o = sd.origin;
    r += "v=" + std::to_string(sd.version) + "\r\n";
    r += "o=" + o.username + " " + o.session_id + " " + o.session_version + " " + o.nettype + " " +
         o.addrtype + " " + o.address + "\r\n";
    r += "s=" + (sd.session_name.empty() ? std::string("-") : sd.session_name) + "\r\n";
    if (!sd.information.empty()) r += "i=" + sd.information + "\r\n";
    if (!sd.uri.empty()) r += "u=" + sd.uri + "\r\n";
    for (const auto& e : sd.emails) r += "e=" + e + "\r\n";
    for (const auto& p : sd.phones) r += "p=" + p + "\r\n";
    if (sd.connection) r += conn_line(*sd.connection);
    for (const auto& b : sd.bandwidths) r += "b=" + b + "\r\n";
    if (sd.times.empty()) r += "t=0 0\r\n";
    for (const auto& t : sd.times) r += "t=" + t + "\r\n";
    for (const auto& x : sd.repeats) r += "r=" + x + "\r\n";
    if (!sd.zone.empty()) r += "z=" + sd.zone + "\r\n";
    if (!sd.key.empty()) r += "k=" + sd.key + "\r\n";
    write_attributes(r, sd.attributes);
    for (const auto& m : sd.media) {
        r += "m=" + m.type + " " + std::to_string(m.port);
        if (m.port_count) r += "/" + std::to_string(m.port_count);
        r += " " + m.proto;
        for (const auto& f : m.formats) r += " " + f;
        r += "\r\n";
        if (!m.information.empty()) r += "i=" + m.information + "\r\n";
        if (m.connection) r += conn_line(*m.connection);
        for (const auto& b : m.bandwidths) r += "b=" + b + "\r\n";
        write_attributes(r, m.attributes);
    }
    return r;
}

// ---------------------------------------------------------------- codecs

namespace {

struct StaticPt {
    int pt;
    const char* name;
    int clock;
    int channels;
};
// RFC 3551 §6 audio payload types.
constexpr StaticPt kStatic[] = {
    {0, "PCMU", 8000, 1},  {3, "GSM", 8000, 1},   {4, "G723", 8000, 1},   {5, "DVI4", 8000, 1},
    {6, "DVI4", 16000, 1}, {7, "LPC", 8000, 1},   {8, "PCMA", 8000, 1},   {9, "G722", 8000, 1},
    {10, "L16", 44100, 2}, {11, "L16", 44100, 1}, {12, "QCELP", 8000, 1}, {13, "CN", 8000, 1},
    {14, "MPA", 90000, 1}, {15, "G728", 8000, 1}, {16, "DVI4", 11025, 1}, {17, "DVI4", 22050, 1},
    {18, "G729", 8000, 1}};

}  // namespace

std::vector<Codec> codecs(const Media& m) {
    std::vector<Codec> r;
    for (const auto& f : m.formats) {
        Codec c;
        if (!parse_uint(std::string_view(f), c.pt) || c.pt > 127) continue;
        bool found = false;
        for (const auto& a : m.attributes) {
            std::string_view v = a.value;
            auto sp = v.find(' ');
            if (sp == std::string_view::npos || v.substr(0, sp) != f) continue;
            std::string_view rest = trim(v.substr(sp + 1));
            if (a.name == "rtpmap") {
                // <encoding name>/<clock rate>[/<encoding parameters>]
                auto s1 = rest.find('/');
                if (s1 == std::string_view::npos) continue;
                c.name = rest.substr(0, s1);
                std::string_view clk = rest.substr(s1 + 1);
                auto s2 = clk.find('/');
                if (s2 != std::string_view::npos) {
                    if (!parse_uint(clk.substr(s2 + 1), c.channels)) c.channels = 1;
                    clk = clk.substr(0, s2);
                }
                if (!parse_uint(clk, c.clock)) c.clock = 8000;
                found = true;
            } else if (a.name == "fmtp") {
                c.fmtp = rest;
            }
        }
        if (!found) {
            for (const auto& s : kStatic) {
                if (s.pt == c.pt) {
                    c.name = s.name;
                    c.clock = s.clock;
                    c.channels = s.channels;
                    found = true;
                }
            }
        }
        if (found) r.push_back(std::move(c));
    }
    return r;
}

void set_codecs(Media& m, const std::vector<Codec>& list) {
    m.formats.clear();
    m.remove_attributes("rtpmap");
    m.remove_attributes("fmtp");
    // rtpmap/fmtp go first, before other attributes, in format order.
    std::vector<Attribute> attrs;
    for (const auto& c : list) {
        m.formats.push_back(std::to_string(c.pt));
        std::string map = std::to_string(c.pt) + " " + c.name + "/" + std::to_string(c.clock);
        if (c.channels > 1) map += "/" + std::to_string(c.channels);
        attrs.push_back({"rtpmap", map, false});
        if (!c.fmtp.empty()) attrs.push_back({"fmtp", std::to_string(c.pt) + " " + c.fmtp, false});
    }
    attrs.insert(attrs.end(), m.attributes.begin(), m.attributes.end());
    m.attributes = std::move(attrs);
}

std::vector<Codec> negotiate(const std::vector<Codec>& offered,
                             const std::vector<Codec>& supported) {
    std::vector<Codec> r;
    for (const auto& o : offered) {
        for (const auto& s : supported) {
            if (iequals(o.name, s.name) && o.clock == s.clock && o.channels == s.channels) {
                r.push_back(o);
                break;
            }
        }
    }
    return r;
}

std::string_view to_string(Direction d) {
    switch (d) {
        case Direction::sendrecv:
            return "sendrecv";
        case Direction::sendonly:
            return "sendonly";
        case Direction::recvonly:
            return "recvonly";
        case Direction::inactive:
            return "inactive";
    }
    return "sendrecv";
}

Direction direction(const Media& m, const SessionDescription* session) {
    if (auto d = dir_of(m.attributes)) return *d;
    if (session)
        if (auto d = dir_of(session->attributes)) return *d;
    return Direction::sendrecv;
}

void set_direction(Media& m, Direction d) {
    for (auto n : {"sendrecv", "sendonly", "recvonly", "inactive"}) m.remove_attributes(n);
    m.attributes.push_back({std::string(to_string(d)), {}, true});
}

Direction answer_direction(Direction offered, Direction wanted) {
    switch (offered) {
        case Direction::sendonly:
            return (wanted == Direction::sendrecv || wanted == Direction::recvonly)
                       ? Direction::recvonly
                       : Direction::inactive;
        case Direction::recvonly:
            return (wanted == Direction::sendrecv || wanted == Direction::sendonly)
                       ? Direction::sendonly
                       : Direction::inactive;
        case Direction::inactive:
            return Direction::inactive;
        case Direction::sendrecv:
            return wanted;
    }
    return Direction::inactive;
}

namespace {

SessionDescription base_description(const AudioParams& p) {
    SessionDescription sd;
    uint64_t id = p.session_id;
    if (id == 0)
        id = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch() /
                                   std::chrono::seconds(1));
    bool v6 = p.address.find(':') != std::string::npos;
    sd.origin = {p.username, std::to_string(id), std::to_string(id),
                 "IN",       v6 ? "IP6" : "IP4", p.address};
    sd.connection = Connection{"IN", v6 ? "IP6" : "IP4", p.address};
    sd.attributes = p.session_attributes;
    return sd;
}

Media audio_media(const AudioParams& p, const std::vector<Codec>& list, Direction d) {
    Media m;
    m.type = "audio";
    m.port = p.port;
    m.proto = p.proto;
    set_codecs(m, list);
    if (p.ptime > 0) m.attributes.push_back({"ptime", std::to_string(p.ptime), false});
    m.attributes.insert(m.attributes.end(), p.attributes.begin(), p.attributes.end());
    set_direction(m, d);
    return m;
}

}  // namespace

SessionDescription make_offer(const AudioParams& local) {
    SessionDescription sd = base_description(local);
    sd.media.push_back(audio_media(local, local.codecs, local.direction));
    return sd;
}

std::error_code make_answer(const SessionDescription& offer, const AudioParams& local,
                            SessionDescription& answer) {
    answer = base_description(local);
    bool answered = false;
    std::error_code result = Errc::sdp_no_audio;
    for (const auto& om : offer.media) {
        if (!answered && om.type == "audio" && om.port != 0) {
            auto common = negotiate(codecs(om), local.codecs);
            if (!common.empty()) {
                AudioParams p = local;
                p.proto = om.proto;
                answer.media.push_back(audio_media(
                    p, common, answer_direction(direction(om, &offer), local.direction)));
                answered = true;
                continue;
            }
            result = Errc::sdp_no_common_codec;
        }
        // Rejected stream: same type and formats, port 0 (RFC 3264 §6).
        Media rej;
        rej.type = om.type;
        rej.port = 0;
        rej.proto = om.proto;
        rej.formats = om.formats;
        answer.media.push_back(std::move(rej));
    }
    if (!answered) return result;
    return {};
}

std::error_code audio_stream(const SessionDescription& sd, RemoteAudio& out) {
    out = RemoteAudio{};
    for (const auto& m : sd.media) {
        if (m.type != "audio" || m.port == 0) continue;
        const auto& conn = m.connection ? m.connection : sd.connection;
        if (!conn) return Errc::sdp_bad_connection;
        out.address = conn->address;
        out.port = m.port;
        out.codecs = codecs(m);
        out.direction = direction(m, &sd);
        out.media = &m;
        return {};
    }
    return Errc::sdp_no_audio;
}

}  // namespace p2psip::sip::sdp
