#include "tools.hpp"

#include <fmt/format.h>

#include <boost/asio.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "p2psip/media/audio_device.hpp"
#include "p2psip/media/tone.hpp"
#include "p2psip/overlay/error.hpp"
#include "p2psip/overlay/identity.hpp"
#include "p2psip/overlay/keys.hpp"
#include "p2psip/overlay/lookup.hpp"
#include "p2psip/overlay/record.hpp"
#include "p2psip/overlay/runner_dht.hpp"
#include "p2psip/sip/uri.hpp"

namespace p2psip::node {

namespace asio = boost::asio;

namespace {

struct DhtArgs {
    std::vector<std::string> bootstrap;
    std::uint64_t network_id = 0;
    std::filesystem::path data_dir;
    std::string bind = "127.0.0.1";
};

void add_dht_args(CLI::App* cmd, DhtArgs& a) {
    cmd->add_option("--bootstrap", a.bootstrap, "OpenDHT node HOST:PORT")->required();
    cmd->add_option("--network-id", a.network_id, "OpenDHT network id")->capture_default_str();
    cmd->add_option("--bind", a.bind, "local IPv4 address")->capture_default_str();
}

std::string canonical(const std::string& text) {
    std::string t =
        text.rfind("sip:", 0) == 0 || text.rfind("sips:", 0) == 0 ? text : "sip:" + text;
    sip::Uri uri;
    if (sip::parse_uri(t, uri)) return {};
    return sip::canonical_aor(uri);
}

// Joins the overlay with a throwaway (or given) identity, runs `work`, returns its code.
int with_dht(const DhtArgs& a,
             const std::function<void(overlay::RunnerDht&, std::function<void(int)>)>& work) {
    asio::io_context io;
    overlay::Identity id;
    if (!a.data_dir.empty()) {
        if (auto ec = overlay::load_or_create_identity(a.data_dir, "p2psip-tool", id)) {
            std::fprintf(stderr, "identity in %s: %s\n", a.data_dir.c_str(), ec.message().c_str());
            return 1;
        }
    } else {
        id.dht = dht::crypto::generateIdentity("p2psip-tool", {}, overlay::identity_key_bits);
    }
    overlay::RunnerDht node(io, std::move(id));
    overlay::RunnerConfig cfg;
    cfg.bind_address = a.bind;
    cfg.network_id = a.network_id;
    cfg.bootstrap = a.bootstrap;
    if (auto ec = node.start(cfg)) {
        std::fprintf(stderr, "DHT: %s\n", ec.message().c_str());
        return 1;
    }
    int code = 1;
    bool done = false;
    // Wait to join (at most 10 s), then work.
    auto joined = std::make_shared<asio::steady_timer>(io);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    std::function<void()> poll = [&] {
        if (node.good_nodes() == 0 && std::chrono::steady_clock::now() < deadline) {
            joined->expires_after(std::chrono::milliseconds(100));
            joined->async_wait([&](const boost::system::error_code& ec) {
                if (!ec) poll();
            });
            return;
        }
        work(node, [&](int c) {
            code = c;
            done = true;
            io.stop();
        });
    };
    // OpenDHT's callbacks arrive from its thread: keep the loop alive while we wait.
    auto guard = asio::make_work_guard(io);
    poll();
    io.run_for(std::chrono::seconds(60));
    node.stop();
    if (!done) std::fprintf(stderr, "timed out\n");
    return code;
}

}  // namespace

void add_tool_commands(CLI::App& app, std::function<int()>& run) {
    // ---- tone -----------------------------------------------------------------------
    struct ToneArgs {
        std::string out;
        double freq = 440, seconds = 5;
        int rate = 48000;
    };
    auto tone = std::make_shared<ToneArgs>();
    auto* tone_cmd = app.add_subcommand("tone", "write a sine tone WAV (mono)");
    tone_cmd->add_option("output", tone->out, "WAV file to write")->required();
    tone_cmd->add_option("--freq", tone->freq, "frequency in Hz")->capture_default_str();
    tone_cmd->add_option("--seconds", tone->seconds, "length")->capture_default_str();
    tone_cmd->add_option("--rate", tone->rate, "sample rate in Hz")
        ->check(CLI::Range(8000, 192000))
        ->capture_default_str();
    tone_cmd->callback([&run, tone] {
        run = [tone] {
            if (auto ec = media::write_tone_wav(tone->out, tone->freq, tone->seconds, tone->rate)) {
                std::fprintf(stderr, "%s: %s\n", tone->out.c_str(), ec.message().c_str());
                return 1;
            }
            return 0;
        };
    });

    // ---- devices --------------------------------------------------------------------
    auto* dev_cmd =
        app.add_subcommand("devices", "list the sound cards PortAudio sees (for --audio-device)");
    dev_cmd->callback([&run] {
        run = [] {
            std::error_code ec;
            const auto devices = media::list_audio_devices(ec);
            if (ec) {
                std::fprintf(stderr, "audio devices: %s\n", ec.message().c_str());
                return 1;
            }
            if (devices.empty()) {
                std::printf("no audio devices (calls use --play/--record WAV files or silence)\n");
                return 0;
            }
            std::printf("%5s  %-40s %-8s %4s %4s %8s\n", "index", "name", "host api", "in", "out",
                        "rate");
            for (const auto& d : devices) {
                std::string mark;
                if (d.default_input) mark += " default-in";
                if (d.default_output) mark += " default-out";
                std::printf("%5d  %-40s %-8s %4d %4d %8.0f%s\n", d.index, d.name.c_str(),
                            d.host_api.c_str(), d.max_input_channels, d.max_output_channels,
                            d.default_sample_rate, mark.c_str());
            }
            std::printf(
                "use: p2psip node --audio-device INDEX|NAME (rates other than 48000 Hz "
                "are resampled)\n");
            return 0;
        };
    });

    // ---- analyze --------------------------------------------------------------------
    struct AnalyzeArgs {
        std::string file;
        double freq = 440, min_snr = 20, last = 0;
    };
    auto an = std::make_shared<AnalyzeArgs>();
    auto* an_cmd = app.add_subcommand("analyze", "measure a tone in a WAV recording (peak, SNR)");
    an_cmd->add_option("file", an->file, "WAV file")->required();
    an_cmd->add_option("--freq", an->freq, "expected tone in Hz")->capture_default_str();
    an_cmd->add_option("--min-snr", an->min_snr, "exit 1 when SNR (dB) is below this")
        ->capture_default_str();
    an_cmd->add_option("--last", an->last, "analyse only the last SECONDS of the sound")
        ->check(CLI::NonNegativeNumber);
    an_cmd->callback([&run, an] {
        run = [an] {
            media::ToneReport r;
            if (auto ec = media::analyze_wav(an->file, an->freq, r, an->last)) {
                std::fprintf(stderr, "%s: %s\n", an->file.c_str(), ec.message().c_str());
                return 1;
            }
            const bool ok = r.snr_db >= an->min_snr && std::abs(r.peak_hz - an->freq) < 20;
            std::printf("file=%s samples=%zu peak_hz=%.1f snr_db=%.1f rms=%.1f %s\n",
                        an->file.c_str(), r.samples, r.peak_hz, r.snr_db, r.rms,
                        ok ? "ok" : "FAIL");
            return ok ? 0 : 1;
        };
    });

    // ---- lookup ---------------------------------------------------------------------
    struct LookupArgs {
        DhtArgs dht;
        std::string aor;
        bool both_keys = false;
    };
    auto lk = std::make_shared<LookupArgs>();
    auto* lk_cmd = app.add_subcommand("lookup", "find who holds an AOR in the DHT and where");
    lk_cmd->add_option("aor", lk->aor, "e.g. sip:bob@example.org")->required();
    lk_cmd->add_flag("--both-keys", lk->both_keys,
                     "ask the main and replica keys at once (as the phone's --lookup-both-keys)");
    add_dht_args(lk_cmd, lk->dht);
    lk_cmd->callback([&run, lk] {
        run = [lk] {
            const auto aor = canonical(lk->aor);
            if (aor.empty()) {
                std::fprintf(stderr, "'%s' is not a SIP address\n", lk->aor.c_str());
                return 1;
            }
            overlay::LookupOptions opts;
            opts.replicas_together = lk->both_keys;
            return with_dht(
                lk->dht, [aor, opts](overlay::RunnerDht& node, std::function<void(int)> done) {
                    overlay::lookup(
                        node, aor, opts, [aor, done](std::error_code ec, overlay::LookupResult r) {
                            if (ec) {
                                std::printf("%s: %s (%zu ignored, %lld ms)\n", aor.c_str(),
                                            ec.message().c_str(), r.ignored,
                                            static_cast<long long>(r.elapsed.count()));
                                done(1);
                                return;
                            }
                            std::printf("%s held by %s (%lld ms, %zu ignored, %u DHT gets)\n",
                                        aor.c_str(), r.owner.toString().c_str(),
                                        static_cast<long long>(r.elapsed.count()), r.ignored,
                                        r.gets);
                            for (const auto& b : r.bindings)
                                for (const auto& c : b.contacts)
                                    std::printf("  contact %s seq %llu expires %llu\n", c.c_str(),
                                                static_cast<unsigned long long>(b.seq),
                                                static_cast<unsigned long long>(b.expires));
                            done(0);
                        });
                });
        };
    });

    // ---- publish --------------------------------------------------------------------
    struct PublishArgs {
        DhtArgs dht;
        std::string aor, contact;
        bool claim = true;
        std::uint32_t ttl = 600;
    };
    auto pb = std::make_shared<PublishArgs>();
    auto* pb_cmd = app.add_subcommand(
        "publish",
        "store a signed claim and binding as-is, without checking who holds the name "
        "(for testbeds: lets you play an impostor and check that callers ignore it)");
    pb_cmd->add_option("aor", pb->aor, "AOR")->required();
    pb_cmd->add_option("contact", pb->contact, "contact SIP URI")->required();
    pb_cmd->add_option("--data-dir", pb->dht.data_dir,
                       "identity to sign with (default: a new one)");
    pb_cmd->add_option("--claim", pb->claim, "also store a claim for the AOR")
        ->capture_default_str();
    pb_cmd->add_option("--ttl", pb->ttl, "record lifetime in seconds")->capture_default_str();
    add_dht_args(pb_cmd, pb->dht);
    pb_cmd->callback([&run, pb] {
        run = [pb] {
            const auto aor = canonical(pb->aor);
            if (aor.empty()) {
                std::fprintf(stderr, "'%s' is not a SIP address\n", pb->aor.c_str());
                return 1;
            }
            return with_dht(pb->dht, [aor, pb](overlay::RunnerDht& node,
                                               std::function<void(int)> done) {
                const auto me = node.identity().second->getId();
                const auto now = overlay::unix_seconds(node.now());
                auto left = std::make_shared<int>(pb->claim ? 2 : 1);
                auto ok = std::make_shared<bool>(true);
                auto on_put = [left, ok, done, aor](bool put_ok) {
                    *ok = *ok && put_ok;
                    if (--*left == 0) {
                        std::printf("%s %s\n", aor.c_str(), *ok ? "stored" : "refused by the DHT");
                        done(*ok ? 0 : 1);
                    }
                };
                std::string instance(16, 'T');
                node.put_signed(
                    overlay::aor_key(aor),
                    overlay::make_binding_value(
                        {aor, {pb->contact}, instance, me, now + pb->ttl, 1, false, {}}),
                    on_put, false);
                if (pb->claim)
                    node.put_signed(overlay::aor_key(aor),
                                    overlay::make_claim_value({aor, me, now, now + pb->ttl}),
                                    on_put, false);
            });
        };
    });
}

}  // namespace p2psip::node
