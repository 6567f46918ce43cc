#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <system_error>
#include <vector>

namespace p2psip::media {

struct ToneReport {
    double peak_hz = 0;  // strongest spectral peak (interpolated), above 20 Hz
    double snr_db = 0;   // energy within ±5 bins of expected_hz vs all other bins above 20 Hz
    double rms = 0;      // RMS as a fraction of full scale (a full-scale sine is 0.707)
    size_t samples = 0;  // samples analysed
};

// Welch-averaged FFT (Blackman-Harris window, 4096-point blocks, or smaller for short input;
// at 48 kHz a bin is 11.7 Hz).
ToneReport analyze_tone(std::span<const int16_t> pcm, int sample_rate, double expected_hz);

// Reads a WAV (down-mixed to mono), trims leading/trailing silence, then analyze_tone() on
// all of it, or on its last `last_seconds` when > 0 (e.g. "did audio come back after the
// outage"). errc::not_an_audio_signal if nothing is above the silence threshold.
std::error_code analyze_wav(const std::string& path, double expected_hz, ToneReport& out,
                            double last_seconds = 0);

// Writes a mono 16-bit sine WAV.
std::error_code write_tone_wav(const std::string& path, double freq_hz, double seconds,
                               int sample_rate = 48000, double amplitude = 0.5);

// Reads any libsndfile-readable file as mono int16 at its own rate.
std::error_code read_wav_mono(const std::string& path, std::vector<int16_t>& pcm, int& sample_rate);

// The span without leading/trailing samples below threshold (fraction of full scale).
std::span<const int16_t> trim_silence(std::span<const int16_t> pcm, double threshold = 0.01);

// Longest run of 5 ms windows whose RMS is below threshold (fraction of full scale), in ms,
// between the first and the last sound (leading/trailing silence does not count).
double longest_silent_gap_ms(std::span<const int16_t> pcm, int sample_rate,
                             double threshold = 0.01);
std::error_code longest_silent_gap_wav(const std::string& path, double& gap_ms,
                                       double threshold = 0.01);

}  // namespace p2psip::media
