// nfq_delay: holds every packet of one NFQUEUE for a fixed time, then accepts it.
//
// Usage: nfq_delay --queue N --delay-ms D
//
// The NAT testbed (netbed.sh) uses it as a netem replacement (the test kernel has no netem):
// iptables sends forwarded packets to the queue with `-j NFQUEUE --queue-num N --queue-bypass`,
// and this program gives each one NF_ACCEPT D ms after it arrived. The delay is constant, so
// deadlines are monotonic and a FIFO keeps packet order. Single thread: ppoll() on the netlink
// socket with the next deadline as timeout. Only the verdict is needed, so packets are copied
// in meta mode (no payload).
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

extern "C" {
#include <libnetfilter_queue/libnetfilter_queue.h>
}

namespace {

volatile sig_atomic_t g_stop = 0;

void on_signal(int) {
    g_stop = 1;
}

struct Held {
    std::uint32_t id;
    std::int64_t deadline_ns;
};

struct State {
    std::int64_t delay_ns = 0;
    std::deque<Held> held;
};

std::int64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int on_packet(nfq_q_handle*, nfgenmsg*, nfq_data* nfa, void* data) {
    auto* st = static_cast<State*>(data);
    nfqnl_msg_packet_hdr* ph = nfq_get_msg_packet_hdr(nfa);
    if (ph == nullptr) return 0;
    st->held.push_back(Held{ntohl(ph->packet_id), now_ns() + st->delay_ns});
    return 0;
}

void usage() {
    std::fprintf(stderr, "usage: nfq_delay --queue N --delay-ms D\n");
}

bool parse_uint(std::string_view s, unsigned long max, unsigned long& out) {
    if (s.empty()) return false;
    unsigned long v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + static_cast<unsigned long>(c - '0');
        if (v > max) return false;
    }
    out = v;
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    unsigned long queue = 0;
    unsigned long delay_ms = 0;
    bool have_queue = false;
    bool have_delay = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if ((a == "--queue" || a == "--delay-ms") && i + 1 < argc) {
            std::string_view v = argv[++i];
            bool ok = a == "--queue" ? (have_queue = parse_uint(v, 65535, queue))
                                     : (have_delay = parse_uint(v, 600000, delay_ms));
            if (!ok) {
                std::fprintf(stderr, "nfq_delay: bad value for %s: %s\n", argv[i - 1], argv[i]);
                return 1;
            }
        } else if (a == "-h" || a == "--help") {
            usage();
            return 0;
        } else {
            usage();
            return 1;
        }
    }
    if (!have_queue || !have_delay) {
        usage();
        return 1;
    }

    State st;
    st.delay_ns = static_cast<std::int64_t>(delay_ms) * 1'000'000;

    nfq_handle* h = nfq_open();
    if (h == nullptr) {
        std::fprintf(stderr, "nfq_delay: nfq_open failed: %s (need root/CAP_NET_ADMIN)\n",
                     std::strerror(errno));
        return 1;
    }
    nfq_q_handle* qh = nfq_create_queue(h, static_cast<std::uint16_t>(queue), &on_packet, &st);
    if (qh == nullptr) {
        std::fprintf(stderr,
                     "nfq_delay: cannot bind queue %lu: %s (in use, or no nfnetlink_queue)\n",
                     queue, std::strerror(errno));
        nfq_close(h);
        return 1;
    }
    // Meta only: the verdict needs just the packet id.
    if (nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0) {
        std::fprintf(stderr, "nfq_delay: nfq_set_mode failed: %s\n", std::strerror(errno));
        nfq_destroy_queue(qh);
        nfq_close(h);
        return 1;
    }
    // Room for a few seconds of held traffic; on overflow let packets through undelayed rather
    // than dropping them (loss is a separate, explicit impairment).
    nfq_set_queue_maxlen(qh, 8192);
    nfq_set_queue_flags(qh, NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_FAIL_OPEN);
    nfnl_rcvbufsiz(nfq_nfnlh(h), 8u << 20);
    int fd = nfq_fd(h);
    int one = 1;
    setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);

    // Signals are blocked except inside ppoll(), so the stop flag is never missed.
    struct sigaction sa {};
    sa.sa_handler = &on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigset_t orig;
    sigprocmask(SIG_BLOCK, &block, &orig);

    std::printf("nfq_delay: queue %lu delay %lu ms ready\n", queue, delay_ms);
    std::fflush(stdout);

    std::vector<char> buf(1 << 16);
    int rc = 0;
    while (!g_stop) {
        // Release everything that is due.
        std::int64_t now = now_ns();
        while (!st.held.empty() && st.held.front().deadline_ns <= now) {
            nfq_set_verdict(qh, st.held.front().id, NF_ACCEPT, 0, nullptr);
            st.held.pop_front();
        }
        timespec timeout{};
        timespec* tp = nullptr;
        if (!st.held.empty()) {
            std::int64_t wait = st.held.front().deadline_ns - now;
            timeout.tv_sec = static_cast<time_t>(wait / 1'000'000'000);
            timeout.tv_nsec = static_cast<long>(wait % 1'000'000'000);
            tp = &timeout;
        }
        pollfd pfd{fd, POLLIN, 0};
        int n = ppoll(&pfd, 1, tp, &orig);
        if (n < 0) {
            if (errno == EINTR) continue;
            std::fprintf(stderr, "nfq_delay: poll: %s\n", std::strerror(errno));
            rc = 1;
            break;
        }
        if (n == 0) continue;
        // Drain the socket; each message carries one or more queued packets.
        bool failed = false;
        for (;;) {
            ssize_t len = recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
            if (len < 0) {
                if (errno == EINTR || errno == ENOBUFS) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                std::fprintf(stderr, "nfq_delay: recv: %s\n", std::strerror(errno));
                failed = true;
                break;
            }
            nfq_handle_packet(h, buf.data(), static_cast<int>(len));
        }
        if (failed) {
            rc = 1;
            break;
        }
    }
    // Do not strand held packets: accept them all before unbinding.
    for (const Held& p : st.held) nfq_set_verdict(qh, p.id, NF_ACCEPT, 0, nullptr);
    st.held.clear();
    nfq_destroy_queue(qh);
    nfq_close(h);
    return rc;
}
