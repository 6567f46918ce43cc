// udp_probe: small UDP tool for the NAT testbed (plain POSIX sockets, IPv4).
//
//   udp_probe echo --bind IP:PORT
//       What's-my-mapping server. Answers each datagram with the sender's address as seen,
//       "IP:PORT"; if the request had a payload, a space and the payload (up to 256 bytes) follow,
//       so a client can match replies to probes. Prints "ready" once bound; runs until killed.
//
//   udp_probe ask [--bind IP:PORT] --to IP:PORT [--to IP:PORT ...]
//                 [--count N] [--interval-ms M] [--timeout-ms T]
//       From ONE socket, sends N probes to every target (one round every M ms), then waits up to
//       T ms for stragglers. One line per target:
//         target=IP:PORT mapped=IP:PORT sent=N received=K rtt_ms_median=X
//       mapped is what the echo server answered ("none" without a reply). Exit 0 if every target
//       answered at least once, else 2. Defaults: --bind 0.0.0.0:0 --count 3 --interval-ms 100
//       --timeout-ms 1000.
//
//   udp_probe stun [--bind IP:PORT] --to IP:PORT [--to ...] [--timeout-ms T]
//       Sends RFC 5389 Binding requests (retransmitted every 250 ms, each with a fresh
//       transaction id) from one socket until each target answered or T ms passed (default 3000).
//       One line per target: target=IP:PORT mapped=IP:PORT rtt_ms=X (the XOR-MAPPED-ADDRESS).
//       Exit 0 if every target answered, else 2.
//
// Exit 1 on usage or socket errors.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

std::int64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::optional<unsigned long> parse_uint(std::string_view s, unsigned long max) {
    if (s.empty()) return std::nullopt;
    unsigned long v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<unsigned long>(c - '0');
        if (v > max) return std::nullopt;
    }
    return v;
}

std::optional<sockaddr_in> parse_endpoint(std::string_view s) {
    auto colon = s.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    std::string host(s.substr(0, colon));
    auto port = parse_uint(s.substr(colon + 1), 65535);
    if (!port) return std::nullopt;
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<std::uint16_t>(*port));
    if (inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) return std::nullopt;
    return sa;
}

std::string to_string(const sockaddr_in& sa) {
    char buf[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &sa.sin_addr, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(ntohs(sa.sin_port));
}

bool same_endpoint(const sockaddr_in& a, const sockaddr_in& b) {
    return a.sin_addr.s_addr == b.sin_addr.s_addr && a.sin_port == b.sin_port;
}

struct Options {
    std::string mode;
    sockaddr_in bind{};
    std::vector<sockaddr_in> to;
    unsigned long count = 3;
    unsigned long interval_ms = 100;
    unsigned long timeout_ms = 0;  // 0 = mode default
};

void usage() {
    std::fprintf(
        stderr,
        "usage: udp_probe echo --bind IP:PORT\n"
        "       udp_probe ask [--bind IP:PORT] --to IP:PORT [--to ...] [--count N]\n"
        "                     [--interval-ms M] [--timeout-ms T]\n"
        "       udp_probe stun [--bind IP:PORT] --to IP:PORT [--to ...] [--timeout-ms T]\n");
}

std::optional<Options> parse_args(int argc, char** argv) {
    if (argc < 2) return std::nullopt;
    Options o;
    o.mode = argv[1];
    o.bind.sin_family = AF_INET;
    bool have_bind = false;
    for (int i = 2; i < argc; ++i) {
        std::string_view a = argv[i];
        if (i + 1 >= argc) {
            std::fprintf(stderr, "udp_probe: missing value for %s\n", argv[i]);
            return std::nullopt;
        }
        std::string_view v = argv[++i];
        bool ok = true;
        if (a == "--bind") {
            auto ep = parse_endpoint(v);
            ok = ep.has_value();
            if (ok) o.bind = *ep;
            have_bind = ok;
        } else if (a == "--to") {
            auto ep = parse_endpoint(v);
            ok = ep.has_value();
            if (ok) o.to.push_back(*ep);
        } else if (a == "--count") {
            auto n = parse_uint(v, 100000);
            ok = n.has_value() && *n > 0;
            if (ok) o.count = *n;
        } else if (a == "--interval-ms") {
            auto n = parse_uint(v, 600000);
            ok = n.has_value();
            if (ok) o.interval_ms = *n;
        } else if (a == "--timeout-ms") {
            auto n = parse_uint(v, 3600000);
            ok = n.has_value();
            if (ok) o.timeout_ms = *n;
        } else {
            std::fprintf(stderr, "udp_probe: unknown option %s\n", argv[i - 1]);
            return std::nullopt;
        }
        if (!ok) {
            std::fprintf(stderr, "udp_probe: bad value for %s: %s\n", argv[i - 1], argv[i]);
            return std::nullopt;
        }
    }
    if (o.mode == "echo" && !have_bind) {
        std::fprintf(stderr, "udp_probe: echo needs --bind\n");
        return std::nullopt;
    }
    if ((o.mode == "ask" || o.mode == "stun") && o.to.empty()) {
        std::fprintf(stderr, "udp_probe: %s needs at least one --to\n", o.mode.c_str());
        return std::nullopt;
    }
    if (o.mode != "echo" && o.mode != "ask" && o.mode != "stun") return std::nullopt;
    return o;
}

int open_socket(const sockaddr_in& bind_addr) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        std::fprintf(stderr, "udp_probe: socket: %s\n", std::strerror(errno));
        return -1;
    }
    if (bind(fd, reinterpret_cast<const sockaddr*>(&bind_addr), sizeof bind_addr) < 0) {
        std::fprintf(stderr, "udp_probe: bind %s: %s\n", to_string(bind_addr).c_str(),
                     std::strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

// Receives one datagram if one is waiting within timeout_ns; returns its length or -1.
ssize_t recv_within(int fd, std::int64_t timeout_ns, char* buf, std::size_t cap,
                    sockaddr_in& from) {
    pollfd pfd{fd, POLLIN, 0};
    int ms = static_cast<int>(std::max<std::int64_t>(0, (timeout_ns + 999'999) / 1'000'000));
    if (poll(&pfd, 1, ms) <= 0) return -1;
    socklen_t fl = sizeof from;
    return recvfrom(fd, buf, cap, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &fl);
}

int run_echo(const Options& o) {
    int fd = open_socket(o.bind);
    if (fd < 0) return 1;
    std::printf("ready\n");
    std::fflush(stdout);
    std::array<char, 2048> buf{};
    for (;;) {
        sockaddr_in from{};
        socklen_t fl = sizeof from;
        ssize_t n =
            recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &fl);
        if (n < 0) {
            if (errno == EINTR) continue;
            std::fprintf(stderr, "udp_probe: recvfrom: %s\n", std::strerror(errno));
            return 1;
        }
        std::string reply = to_string(from);
        if (n > 0) {
            reply += ' ';
            reply.append(buf.data(), static_cast<std::size_t>(std::min<ssize_t>(n, 256)));
        }
        sendto(fd, reply.data(), reply.size(), 0, reinterpret_cast<const sockaddr*>(&from),
               sizeof from);
    }
}

double median_ms(std::vector<std::int64_t> v) {
    std::sort(v.begin(), v.end());
    std::size_t n = v.size();
    double mid = n % 2 == 1
                     ? static_cast<double>(v[n / 2])
                     : (static_cast<double>(v[n / 2 - 1]) + static_cast<double>(v[n / 2])) / 2;
    return mid / 1e6;
}

int run_ask(const Options& o) {
    int fd = open_socket(o.bind);
    if (fd < 0) return 1;
    const std::size_t nt = o.to.size();
    const std::int64_t interval = static_cast<std::int64_t>(o.interval_ms) * 1'000'000;
    const std::int64_t timeout =
        static_cast<std::int64_t>(o.timeout_ms ? o.timeout_ms : 1000) * 1'000'000;
    // sent_at[t][seq], rtt_at[t][seq] (-1 = no reply yet).
    std::vector<std::vector<std::int64_t>> sent_at(nt, std::vector<std::int64_t>(o.count, 0));
    std::vector<std::vector<std::int64_t>> rtt(nt, std::vector<std::int64_t>(o.count, -1));
    std::vector<std::string> mapped(nt, "none");
    std::vector<unsigned long> received(nt, 0);
    unsigned long total_received = 0;
    const unsigned long total_expected = o.count * nt;

    auto handle_reply = [&](const char* data, std::size_t len, const sockaddr_in& from) {
        // "IP:PORT nbp <target> <seq>"
        std::string_view s(data, len);
        auto sp = s.find(' ');
        if (sp == std::string_view::npos) return;
        std::string_view who = s.substr(0, sp);
        unsigned t = 0;
        unsigned long seq = 0;
        std::string rest(s.substr(sp + 1));
        if (std::sscanf(rest.c_str(), "nbp %u %lu", &t, &seq) != 2) return;
        if (t >= nt || seq >= o.count || !same_endpoint(from, o.to[t])) return;
        if (rtt[t][seq] >= 0) return;  // duplicate
        rtt[t][seq] = now_ns() - sent_at[t][seq];
        if (received[t] == 0) mapped[t] = std::string(who);
        ++received[t];
        ++total_received;
    };

    std::array<char, 2048> buf{};
    const std::int64_t start = now_ns();
    for (unsigned long seq = 0; seq < o.count; ++seq) {
        const std::int64_t round_at = start + static_cast<std::int64_t>(seq) * interval;
        for (;;) {  // receive until this round is due
            std::int64_t left = round_at - now_ns();
            if (left <= 0) break;
            sockaddr_in from{};
            ssize_t n = recv_within(fd, left, buf.data(), buf.size(), from);
            if (n > 0) handle_reply(buf.data(), static_cast<std::size_t>(n), from);
        }
        for (std::size_t t = 0; t < nt; ++t) {
            char msg[64];
            int len = std::snprintf(msg, sizeof msg, "nbp %zu %lu", t, seq);
            sent_at[t][seq] = now_ns();
            // Errors (e.g. ICMP unreachable reported on a later send) count as loss.
            sendto(fd, msg, static_cast<std::size_t>(len), 0,
                   reinterpret_cast<const sockaddr*>(&o.to[t]), sizeof o.to[t]);
        }
    }
    const std::int64_t deadline = now_ns() + timeout;
    while (total_received < total_expected) {
        std::int64_t left = deadline - now_ns();
        if (left <= 0) break;
        sockaddr_in from{};
        ssize_t n = recv_within(fd, left, buf.data(), buf.size(), from);
        if (n > 0) handle_reply(buf.data(), static_cast<std::size_t>(n), from);
    }
    close(fd);

    bool all = true;
    for (std::size_t t = 0; t < nt; ++t) {
        std::vector<std::int64_t> got;
        for (std::int64_t r : rtt[t])
            if (r >= 0) got.push_back(r);
        char med[32] = "none";
        if (!got.empty()) std::snprintf(med, sizeof med, "%.2f", median_ms(got));
        std::printf("target=%s mapped=%s sent=%lu received=%lu rtt_ms_median=%s\n",
                    to_string(o.to[t]).c_str(), mapped[t].c_str(), o.count, received[t], med);
        if (received[t] == 0) all = false;
    }
    std::fflush(stdout);
    return all ? 0 : 2;
}

// RFC 5389 §6: message header; §15.2 XOR-MAPPED-ADDRESS; §15.1 MAPPED-ADDRESS.
constexpr std::uint32_t kMagicCookie = 0x2112A442;
constexpr std::uint16_t kBindingRequest = 0x0001;
constexpr std::uint16_t kBindingSuccess = 0x0101;
constexpr std::uint16_t kAttrMappedAddress = 0x0001;
constexpr std::uint16_t kAttrXorMappedAddress = 0x0020;

std::uint16_t rd16(const unsigned char* p) {
    return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
std::uint32_t rd32(const unsigned char* p) {
    return (static_cast<std::uint32_t>(p[0]) << 24) | (static_cast<std::uint32_t>(p[1]) << 16) |
           (static_cast<std::uint32_t>(p[2]) << 8) | p[3];
}

// Parses a Binding success response; returns the (XOR-)MAPPED-ADDRESS (IPv4 only).
std::optional<sockaddr_in> parse_binding_response(const unsigned char* p, std::size_t len,
                                                  const std::array<unsigned char, 12>& txid) {
    if (len < 20 || rd16(p) != kBindingSuccess || rd32(p + 4) != kMagicCookie) return std::nullopt;
    if (std::memcmp(p + 8, txid.data(), 12) != 0) return std::nullopt;
    std::size_t body = rd16(p + 2);
    if (20 + body > len) return std::nullopt;
    std::optional<sockaddr_in> plain;
    std::size_t off = 20;
    while (off + 4 <= 20 + body) {
        std::uint16_t type = rd16(p + off);
        std::uint16_t alen = rd16(p + off + 2);
        const unsigned char* v = p + off + 4;
        if (off + 4 + alen > 20 + body) break;
        if ((type == kAttrXorMappedAddress || type == kAttrMappedAddress) && alen >= 8 &&
            v[1] == 0x01) {
            sockaddr_in sa{};
            sa.sin_family = AF_INET;
            std::uint16_t port = rd16(v + 2);
            std::uint32_t addr = rd32(v + 4);
            if (type == kAttrXorMappedAddress) {
                port ^= static_cast<std::uint16_t>(kMagicCookie >> 16);
                addr ^= kMagicCookie;
                sa.sin_port = htons(port);
                sa.sin_addr.s_addr = htonl(addr);
                return sa;
            }
            sa.sin_port = htons(port);
            sa.sin_addr.s_addr = htonl(addr);
            plain = sa;
        }
        off += 4 + ((alen + 3u) & ~3u);  // attributes are padded to 4 bytes (§15)
    }
    return plain;
}

int run_stun(const Options& o) {
    int fd = open_socket(o.bind);
    if (fd < 0) return 1;
    const std::size_t nt = o.to.size();
    const std::int64_t timeout =
        static_cast<std::int64_t>(o.timeout_ms ? o.timeout_ms : 3000) * 1'000'000;
    const std::int64_t rto = 250'000'000;
    struct Pending {
        std::array<unsigned char, 12> txid;
        std::int64_t sent_at;
    };
    std::vector<std::vector<Pending>> pending(nt);
    std::vector<std::optional<sockaddr_in>> mapped(nt);
    std::vector<double> rtt_ms(nt, 0);
    std::random_device rd;
    std::mt19937_64 rng(rd());

    auto send_request = [&](std::size_t t) {
        Pending pd{};
        for (auto& b : pd.txid) b = static_cast<unsigned char>(rng());
        unsigned char msg[20] = {};
        msg[0] = kBindingRequest >> 8;
        msg[1] = kBindingRequest & 0xff;
        msg[4] = kMagicCookie >> 24;
        msg[5] = (kMagicCookie >> 16) & 0xff;
        msg[6] = (kMagicCookie >> 8) & 0xff;
        msg[7] = kMagicCookie & 0xff;
        std::memcpy(msg + 8, pd.txid.data(), 12);
        pd.sent_at = now_ns();
        pending[t].push_back(pd);
        sendto(fd, msg, sizeof msg, 0, reinterpret_cast<const sockaddr*>(&o.to[t]), sizeof o.to[t]);
    };

    const std::int64_t deadline = now_ns() + timeout;
    std::size_t done = 0;
    std::int64_t next_send = now_ns();
    std::array<unsigned char, 2048> buf{};
    while (done < nt) {
        std::int64_t now = now_ns();
        if (now >= deadline) break;
        if (now >= next_send) {
            for (std::size_t t = 0; t < nt; ++t)
                if (!mapped[t]) send_request(t);
            next_send = now + rto;
        }
        sockaddr_in from{};
        ssize_t n = recv_within(fd, std::min(next_send, deadline) - now_ns(),
                                reinterpret_cast<char*>(buf.data()), buf.size(), from);
        if (n <= 0) continue;
        for (std::size_t t = 0; t < nt; ++t) {
            if (mapped[t] || !same_endpoint(from, o.to[t])) continue;
            for (const Pending& pd : pending[t]) {
                auto m = parse_binding_response(buf.data(), static_cast<std::size_t>(n), pd.txid);
                if (!m) continue;
                mapped[t] = m;
                rtt_ms[t] = static_cast<double>(now_ns() - pd.sent_at) / 1e6;
                ++done;
                break;
            }
        }
    }
    close(fd);
    for (std::size_t t = 0; t < nt; ++t) {
        if (mapped[t])
            std::printf("target=%s mapped=%s rtt_ms=%.2f\n", to_string(o.to[t]).c_str(),
                        to_string(*mapped[t]).c_str(), rtt_ms[t]);
        else
            std::printf("target=%s mapped=none rtt_ms=none\n", to_string(o.to[t]).c_str());
    }
    std::fflush(stdout);
    return done == nt ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
    auto o = parse_args(argc, argv);
    if (!o) {
        usage();
        return 1;
    }
    if (o->mode == "echo") return run_echo(*o);
    if (o->mode == "ask") return run_ask(*o);
    return run_stun(*o);
}
