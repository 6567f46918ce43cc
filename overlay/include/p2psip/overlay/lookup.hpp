#pragma once
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "p2psip/overlay/dht_access.hpp"
#include "p2psip/overlay/record.hpp"

namespace p2psip::overlay {

struct LookupResult {
    std::string aor;
    dht::InfoHash owner;            // key that holds the name
    std::vector<Binding> bindings;  // live bindings signed by the owner, one per instance
    std::size_t ignored = 0;        // values dropped: bad record, foreign signer, expired
    std::chrono::milliseconds elapsed{0};
    // When a claim and a live binding from one key were first both in hand (-1: never).
    // A lookup that stopped there would have been this fast; it waits for the whole
    // DHT answer instead so that a conflicting claim is not missed (protocol.md §4).
    std::chrono::milliseconds first_complete{-1};
};

struct LookupOptions {
    std::chrono::milliseconds timeout{8000};
    // Trust this key for the AOR (e.g. remembered from an earlier call). The lookup then
    // ends as soon as its claim and a live binding are in hand.
    std::optional<dht::InfoHash> pinned_owner;
};

// Finds who holds `aor` and where its instances are (docs/protocol.md §4):
// errc::not_found when no valid claim with a live binding exists, errc::name_conflict
// when several keys claim it and none is pinned, errc::timeout when the DHT did not
// finish in time and nothing usable arrived.
void lookup(DhtAccess& dht, std::string aor, LookupOptions options,
            std::function<void(std::error_code, LookupResult)> done);

// The owner-selection rule on its own, for tests and the simulator: the pinned key if
// it claims the AOR; otherwise the only claimant. Several claimants and no pin give
// nullopt with `conflict` set: nothing in a claim (time, key id) is unforgeable enough
// to pick one, so the caller refuses rather than risk calling an impostor.
std::optional<dht::InfoHash> choose_owner(const std::vector<Claim>& claims,
                                          const std::optional<dht::InfoHash>& pinned,
                                          bool* conflict = nullptr);

}  // namespace p2psip::overlay
