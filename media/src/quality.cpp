#include "p2psip/media/quality.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>

namespace p2psip::media {
namespace {

// G.107 default parameters (Table 3): SLR 8, RLR 2, STMR 15, LSTR 18, Ds 3, Dr 3, TELR 65,
// WEPL 110, Ps = Pr = 35 dB(A), Nc -70 dBm0p, Nfor -64 dBmp, A 0. From them (§7.1, §7.2):
// No = -61.18 dBm0p, Ro = 15 - 1.5 (SLR + No) = 94.77, Is = 1.41.
constexpr double kNo = -61.18;
constexpr double kRlr = 2;
constexpr double kRo = 94.77;
constexpr double kIs = 1.41;
constexpr double kTelr = 65;
constexpr double kWepl = 110;

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view base_name(std::string_view codec) {
    return codec.substr(0, codec.find('/'));  // "opus/48000/2" -> "opus"
}

// G.107 §7.3: delay impairment Id = Idte + Idle + Idd for T = Ta = Tr/2 (ms).
double delay_impairment(double ta) {
    const double t = std::max(0.0, ta);
    // Talker echo (Idte), with the default TELR; STMR 15 >= 9 so no sidetone correction.
    const double terv =
        kTelr - 40 * std::log10((1 + t / 10) / (1 + t / 150)) + 6 * std::exp(-0.3 * t * t);
    const double roe = -1.5 * (kNo - kRlr);
    const double re = 80 + 2.5 * (terv - 14);
    const double idte =
        ((roe - re) / 2 + std::sqrt((roe - re) * (roe - re) / 4 + 100) - 1) * (1 - std::exp(-t));
    // Listener echo (Idle), Tr = 2T.
    const double rle = 10.5 * (kWepl + 7) * std::pow(2 * t + 1, -0.25);
    const double idle = (kRo - rle) / 2 + std::sqrt((kRo - rle) * (kRo - rle) / 4 + 169);
    // Pure delay (Idd), default mT = 100 ms, sT = 1.
    double idd = 0;
    if (t > 100) {
        const double x = std::log10(t / 100) / std::log10(2.0);
        idd = 25 * (std::pow(1 + std::pow(x, 6), 1.0 / 6) -
                    3 * std::pow(1 + std::pow(x / 3, 6), 1.0 / 6) + 2);
    }
    return idte + idle + idd;
}

}  // namespace

EModelCodec emodel_codec(std::string_view codec) noexcept {
    const std::string_view name = base_name(codec);
    if (iequals(name, "PCMU") || iequals(name, "PCMA") || iequals(name, "G711"))
        return {.ie = 0, .bpl = 25.1};
    if (iequals(name, "opus")) return {.ie = 0, .bpl = 25.1};
    return {.ie = 0, .bpl = 4.3};
}

double emodel_r_factor(double one_way_delay_ms, double loss_percent, const EModelCodec& codec,
                       double burst_ratio) noexcept {
    const double ppl = std::clamp(loss_percent, 0.0, 100.0);
    const double burst = std::max(1.0, burst_ratio);
    // G.107 §7.4 (7-29): effective equipment impairment under random/bursty loss.
    const double ie_eff = codec.ie + (95 - codec.ie) * ppl / (ppl / burst + codec.bpl);
    return kRo - kIs - delay_impairment(one_way_delay_ms) - ie_eff;
}

double r_to_mos(double r) noexcept {
    // G.107 Annex B (B-4).
    if (r <= 0) return 1.0;
    if (r >= 100) return 4.5;
    return 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6;
}

double estimate_mos(double one_way_delay_ms, double loss_percent, std::string_view codec) {
    return r_to_mos(emodel_r_factor(one_way_delay_ms, loss_percent, emodel_codec(codec)));
}

double codec_lookahead_ms(std::string_view codec) noexcept {
    return iequals(base_name(codec), "opus") ? 6.5 : 0.0;
}

}  // namespace p2psip::media
