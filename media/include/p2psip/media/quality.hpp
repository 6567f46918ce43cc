#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace p2psip::media {

// Codec parameters of the ITU-T G.107 E-model: equipment impairment Ie and packet-loss
// robustness Bpl (values and sources in docs/media-notes.md).
struct EModelCodec {
    double ie = 0;
    double bpl = 4.3;
};

// PCMU/PCMA: Ie 0, Bpl 25.1 (G.711 with PLC, ITU-T G.113 Appendix I). Opus: Ie 0, Bpl 25.1
// (no ITU-T value exists for Opus on the narrowband scale; see the notes). Any other name:
// Ie 0, Bpl 4.3 (G.711 without PLC, the least robust entry), so unknown codecs are not flattered.
EModelCodec emodel_codec(std::string_view codec) noexcept;

// The E-model rating with all G.107 default parameters except the one-way (mouth-to-ear)
// delay Ta = T = Tr/2 and random packet loss (BurstR = 1):
//   R = Ro - Is - Id(T) - Ie,eff,  Ie,eff = Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl).
// At zero delay and loss this is the familiar 93.2.
double emodel_r_factor(double one_way_delay_ms, double loss_percent, const EModelCodec& codec,
                       double burst_ratio = 1.0) noexcept;

// G.107 Annex B: R to the estimated conversational MOS (1.0 .. 4.5).
double r_to_mos(double r) noexcept;

// estimate_mos(Ta, Ppl, codec) = r_to_mos(emodel_r_factor(Ta, Ppl, emodel_codec(codec))).
double estimate_mos(double one_way_delay_ms, double loss_percent, std::string_view codec);

// Algorithmic delay the codec adds on top of the 20 ms frame: Opus' 6.5 ms look-ahead
// (RFC 6716 §2: 26.5 ms total at 20 ms frames), nothing for G.711.
double codec_lookahead_ms(std::string_view codec) noexcept;

// A call's quality as this end hears it, for reports (see MediaSession::quality_report()).
struct QualityReport {
    uint64_t packets_sent = 0;
    uint64_t packets_received = 0;
    uint64_t packets_lost = 0;     // never arrived (RFC 3550 A.3)
    uint64_t packets_late = 0;     // arrived after their playout time
    double loss_percent = 0;       // (lost + late) / expected: what the listener misses
    double jitter_ms = 0;          // RFC 3550 interarrival jitter of what we receive
    std::optional<double> rtt_ms;  // from RTCP, if known
    double playout_delay_ms = 0;   // mean jitter-buffer delay
    // Estimated mouth-to-ear delay: RTT/2 (0 while unknown) + playout delay + 20 ms frame +
    // codec look-ahead. Audio device buffers are not included.
    double one_way_delay_ms = 0;
    double remote_loss_percent = 0;  // the peer's view of our stream (RTCP fraction lost)
    double remote_jitter_ms = 0;
    double r_factor = 0;  // E-model R for what we hear
    double mos = 0;       // r_to_mos(r_factor)
};

}  // namespace p2psip::media
