// Reads a tcpdump capture (-i lo, pcap format) and asks: does any RTP flow on the wire
// carry the caller's tone in the clear? Each flow with the given payload type is decoded
// as if it were plaintext; SRTP payloads decode to noise. Prints one line per flow and
// "max_snr_db=X rtp_packets=N"; exit status 0 unless the capture cannot be read.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "p2psip/media/codec.hpp"
#include "p2psip/media/tone.hpp"

namespace {

struct Flow {
    std::vector<std::vector<uint8_t>> payloads;
};

uint16_t be16(const uint8_t* p) {
    return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
uint32_t be32(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
           static_cast<uint32_t>(p[2]) << 8 | p[3];
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: wire_check CAPTURE.pcap PAYLOAD_TYPE CODEC [FREQ]\n");
        return 2;
    }
    const int pt = std::stoi(argv[2]);
    const std::string codec = argv[3];
    const double freq = argc > 4 ? std::stod(argv[4]) : 440.0;

    std::ifstream in(argv[1], std::ios::binary);
    std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
    if (data.size() < 24) {
        std::fprintf(stderr, "%s: not a pcap file\n", argv[1]);
        return 2;
    }
    uint32_t magic;
    std::memcpy(&magic, data.data(), 4);
    if (magic != 0xa1b2c3d4 && magic != 0xa1b23c4d) {
        std::fprintf(stderr, "%s: unsupported capture format (need little-endian pcap)\n", argv[1]);
        return 2;
    }
    uint32_t linktype;
    std::memcpy(&linktype, data.data() + 20, 4);
    const std::size_t link_header = linktype == 1 ? 14 : linktype == 113 ? 16 : 0;  // EN10MB, SLL
    if (link_header == 0) {
        std::fprintf(stderr, "unsupported link type %u\n", linktype);
        return 2;
    }

    std::map<uint32_t, Flow> flows;  // by SSRC
    std::size_t off = 24;
    while (off + 16 <= data.size()) {
        uint32_t incl;
        std::memcpy(&incl, data.data() + off + 8, 4);
        const uint8_t* pkt = data.data() + off + 16;
        off += 16 + incl;
        if (off > data.size() || incl < link_header + 28) continue;
        const uint8_t* ip = pkt + link_header;
        if ((ip[0] >> 4) != 4 || ip[9] != 17) continue;  // IPv4 UDP only
        const std::size_t ihl = (ip[0] & 0x0f) * 4u;
        const uint8_t* udp = ip + ihl;
        const std::size_t udp_len = be16(udp + 4);
        if (udp_len < 8 + 12 || udp + udp_len > pkt + incl) continue;
        const uint8_t* rtp = udp + 8;
        const std::size_t rtp_len = udp_len - 8;
        // RFC 7983: RTP/RTCP first byte 128..191; skip RTCP (RFC 5761 PT 64..95).
        if (rtp[0] < 128 || rtp[0] > 191) continue;
        if ((rtp[1] & 0x7f) != pt) continue;
        const std::size_t header = 12 + 4u * (rtp[0] & 0x0f);
        if (rtp_len <= header) continue;
        flows[be32(rtp + 8)].payloads.emplace_back(rtp + header, rtp + rtp_len);
    }

    double max_snr = -100;
    std::size_t packets = 0;
    for (const auto& [ssrc, flow] : flows) {
        if (flow.payloads.size() < 25) continue;  // not a media flow
        packets += flow.payloads.size();
        std::error_code ec;
        auto decoder = p2psip::media::make_decoder(codec, ec);
        if (!decoder) {
            std::fprintf(stderr, "unknown codec %s\n", codec.c_str());
            return 2;
        }
        std::vector<int16_t> pcm;
        std::vector<int16_t> frame(p2psip::media::kMaxDecodedSamples);
        std::size_t undecodable = 0;
        for (const auto& payload : flow.payloads) {
            // PCMU: one byte per sample, so an SRTP tag would be decoded too; that is fine,
            // noise stays noise. Opus rejects most ciphertext outright.
            std::size_t n = 0;
            if (decoder->decode(payload, frame, n) || n == 0) {
                ++undecodable;
                continue;
            }
            pcm.insert(pcm.end(), frame.begin(), frame.begin() + static_cast<long>(n));
        }
        double snr = -100;  // also for a silent flow: no tone there, plain or not
        if (pcm.size() > 4800) {
            const auto r = p2psip::media::analyze_tone(pcm, 48000, freq);
            if (r.rms > 1e-4) snr = r.snr_db;
        }
        std::printf("flow ssrc=%08x packets=%zu undecodable=%zu tone_snr_db=%.1f\n", ssrc,
                    flow.payloads.size(), undecodable, snr);
        if (snr > max_snr) max_snr = snr;
    }
    std::printf("max_snr_db=%.1f rtp_packets=%zu\n", max_snr, packets);
    return 0;
}
