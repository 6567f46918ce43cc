#include "p2psip/overlay/dht_access.hpp"

namespace p2psip::overlay {

std::vector<dht::SockAddr> ipv4_addresses(const std::vector<dht::NodeExport>& nodes) {
    std::vector<dht::SockAddr> addresses;
    addresses.reserve(nodes.size());
    for (const auto& node : nodes)
        if (node.ss.ss_family == AF_INET)
            addresses.emplace_back(reinterpret_cast<const ::sockaddr*>(&node.ss), node.sslen);
    return addresses;
}

std::optional<SearchProgress> parse_search_log(std::string_view log) {
    // A node line (Dht::dumpSearch, OpenDHT 2.4):
    // "%3u <40 hex id> <'*'|' '> [<pending count|' '><'x' if expired|' '>] [<s><g>] ..."
    // s: 'u' answered since the latest get started, 's' earlier, '-' not synced;
    // g: 'f' a get request pending, 'c' pending and candidate (a retry), ' ' none.
    constexpr unsigned target_nodes = 8;  // OpenDHT's TARGET_NODES: what a get waits for
    SearchProgress p;
    while (!log.empty()) {
        const auto eol = log.find('\n');
        auto line = log.substr(0, eol);
        log = eol == std::string_view::npos ? std::string_view{} : log.substr(eol + 1);
        std::size_t i = 0;
        while (i < line.size() && line[i] == ' ') ++i;
        const auto digits = i;
        while (i < line.size() && line[i] >= '0' && line[i] <= '9') ++i;
        if (i == digits || i + 1 + 40 > line.size() || line[i] != ' ') continue;
        bool hex = true;
        for (std::size_t k = i + 1; k < i + 41; ++k) {
            const char c = line[k];
            hex = hex && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
        }
        if (!hex) continue;
        const auto conn = line.find('[', i + 41);
        const auto conn_end = conn == std::string_view::npos ? conn : line.find(']', conn);
        const auto get = conn_end == std::string_view::npos ? conn_end : line.find('[', conn_end);
        if (get == std::string_view::npos || get + 3 >= line.size() || line[get + 3] != ']' ||
            conn_end == conn + 1)
            return std::nullopt;  // a node line this parser does not understand
        const bool expired = line[conn_end - 1] == 'x';
        const char s = line[get + 1], g = line[get + 2];
        if (expired || g == 'c') continue;  // OpenDHT's "bad" nodes: the get skips them too
        if (p.closest == target_nodes) continue;
        ++p.closest;
        if (s == 'u' && g == ' ') ++p.answered;
    }
    return p;
}

}  // namespace p2psip::overlay
