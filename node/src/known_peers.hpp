#pragma once
#include <opendht/infohash.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace p2psip::node {

// Keys this phone has called before, by AOR ("trust on first use", like ssh's
// known_hosts): <data-dir>/known_peers, one "AOR KEY-ID" per line. A lookup for a known
// AOR trusts that key and stops as soon as its records arrive (protocol.md §4).
class KnownPeers {
  public:
    explicit KnownPeers(std::filesystem::path file);
    // Reads the file; returns a message naming the file and line for a bad line (the line
    // is skipped), empty when fine or when the file does not exist yet.
    std::string load();
    std::optional<dht::InfoHash> find(const std::string& aor) const;
    // Remembers aor -> key (appends to the file); false if the file cannot be written.
    bool remember(const std::string& aor, const dht::InfoHash& key);
    std::size_t size() const { return keys_.size(); }

  private:
    std::filesystem::path file_;
    std::map<std::string, dht::InfoHash> keys_;
};

}  // namespace p2psip::node
