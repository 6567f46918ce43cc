#include "known_peers.hpp"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

namespace p2psip::node {

KnownPeers::KnownPeers(std::filesystem::path file) : file_(std::move(file)) {}

std::string KnownPeers::load() {
    std::ifstream in(file_);
    if (!in) return {};
    std::string line, problems;
    for (int n = 1; std::getline(in, line); ++n) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream fields(line);
        std::string aor, key;
        fields >> aor >> key;
        const dht::InfoHash id(key);
        if (aor.rfind("sip:", 0) != 0 || key.size() != 40 || !id) {
            problems += fmt::format("{}{}:{}: expected 'sip:user@host KEY-ID' (40 hex digits)",
                                    problems.empty() ? "" : "; ", file_.string(), n);
            continue;
        }
        keys_[aor] = id;  // a later line wins
    }
    return problems;
}

std::optional<dht::InfoHash> KnownPeers::find(const std::string& aor) const {
    auto it = keys_.find(aor);
    if (it == keys_.end()) return std::nullopt;
    return it->second;
}

bool KnownPeers::remember(const std::string& aor, const dht::InfoHash& key) {
    if (auto it = keys_.find(aor); it != keys_.end() && it->second == key) return true;
    keys_[aor] = key;
    std::ofstream out(file_, std::ios::app);
    out << aor << ' ' << key.toString() << '\n';
    return static_cast<bool>(out);
}

}  // namespace p2psip::node
