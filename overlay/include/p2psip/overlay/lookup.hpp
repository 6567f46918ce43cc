#pragma once
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "p2psip/overlay/dht_access.hpp"
#include "p2psip/overlay/keys.hpp"
#include "p2psip/overlay/record.hpp"

namespace p2psip::overlay {

struct LookupResult {
    std::string aor;
    dht::InfoHash owner;            // key that holds the name
    std::vector<Binding> bindings;  // live bindings signed by the owner, one per instance
    std::size_t ignored = 0;        // values dropped: bad record, foreign signer, expired
    std::chrono::milliseconds elapsed{0};
    // When a claim and a live binding from one key were first both in hand (-1: never).
    // Without a pin the lookup goes on until a majority of the closest storage nodes have
    // answered (or the whole get) so that a conflicting claim is not missed (protocol.md §4).
    std::chrono::milliseconds first_complete{-1};
    // Gets after the first, each because the one before ended with nothing usable (with
    // LookupOptions::replicas_together, rounds of gets after the first round).
    unsigned retries = 0;
    // OpenDHT gets started, over every key and round: 1 when the first key answered, 2 for
    // a first round with replicas_together (two replica keys).
    unsigned gets = 0;
    // The replica key (aor_key(aor, replica)) of the last get; with
    // LookupOptions::replicas_together, the key whose get brought the first binding returned.
    unsigned replica = 0;
    // True when the lookup ended before OpenDHT's get did: by the quorum rule, a pinned
    // owner's answer, or a conflict already certain.
    bool early = false;
    // The search's progress when the lookup ended, if it was asked (LookupOptions::quorum).
    SearchProgress progress;
};

struct LookupOptions {
    std::chrono::milliseconds timeout{8000};
    // Trust this key for the AOR (e.g. remembered from an earlier call). The lookup then
    // ends as soon as its claim and a fresh live binding are in hand (one signed less than
    // half its lifetime ago: protocol.md §4, "Fresh bindings").
    std::optional<dht::InfoHash> pinned_owner;
    // Without a pin: end as soon as exactly one key's claim and a fresh live binding of it are
    // in hand AND `quorum` of the 8 storage nodes closest to the key (OpenDHT's target
    // nodes, as DhtAccess::search_progress reports them) have answered this get, instead
    // of waiting for all 8 (protocol.md §4 says what this trades). 5: a majority. A search
    // that knows fewer than 8 live nodes (a young search, a small overlay) waits for the
    // whole get. 0, or a DhtAccess that cannot report progress: wait for OpenDHT's whole
    // get (the rule before).
    unsigned quorum = 5;
    // How often the progress is asked again while claim and binding are in hand but the
    // majority has not answered yet (answers without new values trigger no callback).
    std::chrono::milliseconds quorum_poll{20};
    // A get that ends with nothing usable is followed by another, up to `retries` more,
    // while the timeout allows: at once under the AOR's next replica key, and after the
    // last replica round by round from the first key again, after `retry_delay` (doubling
    // each round). Under churn OpenDHT can call a get complete while the nodes nearest the
    // key are dead and still being retried: it counts only the nodes that answered, which
    // may all sit far from the key. Another key's storage nodes are elsewhere in the
    // overlay; a later get of the same key starts from the search as it is then, with the
    // dead nodes dropped (simulations.md, protocol.md §4).
    unsigned retries = 3;
    std::chrono::milliseconds retry_delay{1000};
    // How many of the AOR's replica keys to ask (publisher.hpp): 1 asks only aor_key().
    unsigned replicas = aor_replicas;
    // Ask all `replicas` keys at once instead of one after the other: the newest copy of a
    // binding on either key's storage nodes wins, and the early end waits until every
    // key's get has its quorum (or is over). Twice the lookup traffic, for the case where
    // one key's closest nodes still serve a restarted phone's previous, still fresh,
    // binding (simulations.md). A retry then asks every key again, `retries` rounds at most.
    // Measured (simulations.md, session 10): 10k nodes, 1.4-minute sessions: 98.22 % of
    // lookups right instead of 94.84 %, 7 % more messages; without churn first contacts
    // +52 ms (p50), known callees -45 ms, 9 % more messages. Off by default: retries are
    // rounds with doubling delays (1, 2, 4 s), so an AOR nobody holds takes ~8 s to be
    // not found instead of ~2 s (Lookup.UnknownAorIsNotFoundBeforeTheTimeout, both ways).
    bool replicas_together = false;
};

// Finds who holds `aor` and where its instances are (docs/protocol.md §4):
// errc::not_found when no valid claim with a live binding exists, errc::name_conflict
// when several keys claim it and none is pinned (reported as soon as a second claim is
// seen: more answers cannot undo it), errc::timeout when the DHT did not finish in time
// and nothing usable arrived.
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
