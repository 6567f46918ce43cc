// sdp_tamper LISTEN_PORT TARGET_PORT [--pass]: an on-path attacker for the e2e tests. A UDP relay
// on 127.0.0.1 that forwards SIP from callers to 127.0.0.1:TARGET_PORT and the target's replies
// back (our Via carries rport, so replies come to the relay), changing one hex digit of every
// a=fingerprint it sees in the target's replies. Same length: Content-Length stays right.
// Prints one line per tampered message. --pass relays without changing anything (a control).
#include <utility>  // before asio, per project convention

#include <array>
#include <boost/asio.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace asio = boost::asio;
using udp = asio::ip::udp;

int main(int argc, char** argv) {
    const bool pass = argc == 4 && std::string_view(argv[3]) == "--pass";
    if (argc != 3 && !pass) {
        std::fprintf(stderr, "usage: sdp_tamper LISTEN_PORT TARGET_PORT [--pass]\n");
        return 2;
    }
    const auto loopback = asio::ip::make_address("127.0.0.1");
    asio::io_context io;
    boost::system::error_code ec;
    udp::socket sock(io);
    sock.open(udp::v4(), ec);
    if (!ec) sock.bind({loopback, static_cast<unsigned short>(std::atoi(argv[1]))}, ec);
    if (ec) {
        std::fprintf(stderr, "sdp_tamper: bind: %s\n", ec.message().c_str());
        return 1;
    }
    const udp::endpoint target(loopback, static_cast<unsigned short>(std::atoi(argv[2])));
    udp::endpoint client, from;
    std::array<char, 65536> buf{};
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    for (;;) {
        const size_t n = sock.receive_from(asio::buffer(buf), from, 0, ec);
        if (ec) continue;
        std::string msg(buf.data(), n);
        if (from == target && !pass) {
            int changed = 0;
            for (size_t at = msg.find("a=fingerprint:"); at != std::string::npos;
                 at = msg.find("a=fingerprint:", at + 1)) {
                const size_t hex = msg.find(' ', at);  // "a=fingerprint:sha-256 AB:..."
                if (hex == std::string::npos || hex + 1 >= msg.size()) break;
                char& c = msg[hex + 1];
                c = c == '0' ? '1' : '0';
                ++changed;
            }
            if (changed) std::printf("tampered %d fingerprint(s) in a reply\n", changed);
            if (client.port() != 0) sock.send_to(asio::buffer(msg), client, 0, ec);
        } else if (from == target) {
            if (client.port() != 0) sock.send_to(asio::buffer(msg), client, 0, ec);
        } else {
            client = from;
            sock.send_to(asio::buffer(msg), target, 0, ec);
        }
    }
}
