#include "p2psip/overlay/lookup.hpp"

#include <algorithm>
#include <map>

#include "p2psip/overlay/error.hpp"
#include "p2psip/overlay/keys.hpp"

namespace p2psip::overlay {

std::optional<dht::InfoHash> choose_owner(const std::vector<Claim>& claims,
                                          const std::optional<dht::InfoHash>& pinned,
                                          bool* conflict) {
    if (conflict) *conflict = false;
    if (pinned) {
        for (const auto& c : claims)
            if (c.owner == *pinned) return c.owner;
        return std::nullopt;  // the pinned key does not hold it now: trust nobody else
    }
    std::optional<dht::InfoHash> owner;
    for (const auto& c : claims) {
        if (owner && *owner != c.owner) {
            // Honest storage nodes keep the first claim (edit policy), but an attacker's
            // own nodes answer with theirs, and its `created` can be backdated.
            if (conflict) *conflict = true;
            return std::nullopt;
        }
        owner = c.owner;
    }
    return owner;
}

namespace {

// Allowance for the refresh's own delay (the put's get, the announce) in fresh().
constexpr std::uint64_t fresh_slack_s = 30;
// Longer than any binding lifetime a holder sets (the phone's binding_ttl is at most a day).
constexpr std::uint64_t max_lifetime_s = 7 * 86400;

// `quorum` answers of OpenDHT's 8 target nodes. A search that knows fewer live nodes is
// either young (the closest are still being found: a majority of what it knows could all
// be one party's) or in a small overlay, where the whole get is quick anyway: no early end.
bool quorum_met(const SearchProgress& p, unsigned quorum) {
    return p.closest >= 8 && p.answered >= std::max(quorum, 1u);
}

struct LookupState {
    std::string aor;
    LookupOptions options;
    std::function<void(std::error_code, LookupResult)> done;
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
    std::uint64_t now = 0;
    std::map<dht::InfoHash, Claim> claims;                              // per owner
    std::map<std::pair<dht::InfoHash, std::string>, Binding> bindings;  // per (signer, instance)
    std::size_t ignored = 0;
    DhtAccess::TimerId timer = 0;
    DhtAccess::TimerId poll_timer = 0;
    DhtAccess::TimerId retry_timer = 0;
    unsigned retries = 0;   // gets (rounds, with replicas_together) after the first
    // The gets of the current round: one key, or every replica key with replicas_together.
    struct Get {
        dht::InfoHash key;
        unsigned replica = 0;
        bool done = false;
        bool quorum = false;  // enough of its closest storage nodes have answered
    };
    std::vector<Get> gets;
    unsigned round = 0;
    unsigned gets_started = 0;
    // Which replica key brought each binding's newest copy (replicas_together).
    std::map<std::pair<dht::InfoHash, std::string>, unsigned> binding_replica;
    bool finished = false;
    unsigned asking = 0;  // search_progress requests out
    bool quorum_unsupported = false;
    SearchProgress progress;
    std::chrono::milliseconds first_complete{-1};

    // A live binding its holder has kept refreshing: one that is past half its lifetime
    // has missed the refresh its holder makes at half-life (publisher.cpp), so its holder
    // crashed, or its fresher copy went to other nodes than this one's. `seq` is the
    // holder's clock in ms at signing (protocol.md §3, §4 "Fresh bindings"); a `seq` that
    // cannot be that (more than max_lifetime_s before `expires`) says nothing: fresh.
    bool fresh(const Binding& b) const {
        if (b.expires <= now) return false;
        const std::uint64_t signed_at = b.seq / 1000;
        if (signed_at >= now || signed_at > b.expires || b.expires - signed_at > max_lifetime_s)
            return true;
        return 2 * (now - signed_at) <= (b.expires - signed_at) + 2 * fresh_slack_s;
    }

    void note_progress() {
        if (first_complete.count() >= 0) return;
        for (const auto& [key, b] : bindings)
            if (claims.count(key.first) && b.expires > now && !b.contacts.empty()) {
                first_complete = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - started);
                return;
            }
    }

    // Exactly one key claims the name and a fresh live binding of it is in hand.
    bool single_complete() const {
        if (claims.size() != 1) return false;
        const auto& owner = claims.begin()->first;
        for (const auto& [key, b] : bindings)
            if (key.first == owner && !b.contacts.empty() && fresh(b)) return true;
        return false;
    }

    bool pinned_complete() const {
        if (!options.pinned_owner || !claims.count(*options.pinned_owner)) return false;
        for (const auto& [key, b] : bindings)
            if (key.first == *options.pinned_owner && !b.contacts.empty() && fresh(b))
                return true;
        return false;
    }

    void add(const dht::Value& v, unsigned from_replica) {
        DecodedRecord rec;
        if (decode_record(v, aor, rec)) {
            ++ignored;
            return;
        }
        if (rec.kind == DecodedRecord::Kind::claim) {
            if (rec.claim.expires <= now) return;
            auto [it, inserted] = claims.emplace(rec.claim.owner, rec.claim);
            if (!inserted && rec.claim.created < it->second.created) it->second = rec.claim;
            return;
        }
        auto& b = rec.binding;
        auto key = std::make_pair(b.signer, b.instance_id);
        auto it = bindings.find(key);
        if (it == bindings.end()) {
            binding_replica[key] = from_replica;
            bindings.emplace(std::move(key), std::move(b));
        } else if (b.seq > it->second.seq) {
            binding_replica[key] = from_replica;
            it->second = std::move(b);
        }
    }

    void finish(DhtAccess& dht, bool timed_out, bool early = false) {
        if (finished) return;
        finished = true;
        if (timer && !timed_out) dht.cancel(timer);
        if (poll_timer) dht.cancel(poll_timer);
        if (retry_timer) dht.cancel(retry_timer);
        bool conflict = false;
        auto result = make_result(early, &conflict);
        std::error_code ec;
        if (conflict)
            ec = make_error_code(errc::name_conflict);
        else if (result.bindings.empty())
            ec = make_error_code(timed_out && claims.empty() ? errc::timeout : errc::not_found);
        auto cb = std::move(done);
        cb(ec, std::move(result));
    }

    LookupResult make_result(bool early, bool* conflict) const {
        LookupResult result;
        result.retries = retries;
        result.gets = gets_started;
        result.replica = gets.back().replica;  // the last get started
        bool replica_set = !options.replicas_together;
        result.aor = aor;
        result.early = early;
        result.progress = progress;
        result.ignored = ignored;
        result.first_complete = first_complete;
        result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - started);
        std::vector<Claim> all;
        for (const auto& [owner, c] : claims) all.push_back(c);
        const auto owner = choose_owner(all, options.pinned_owner, conflict);
        if (owner) {
            result.owner = *owner;
            for (const auto& [key, b] : bindings) {
                if (b.signer != *owner) {
                    ++result.ignored;  // signed by a key that does not hold the name
                    continue;
                }
                // A withdrawn or expired binding is a device that left, not an error.
                if (b.expires > now && !b.contacts.empty()) {
                    result.bindings.push_back(b);
                    if (!replica_set) {
                        result.replica = binding_replica.at(key);
                        replica_set = true;
                    }
                }
            }
        } else {
            for (const auto& [key, b] : bindings) (void)b, ++result.ignored;
        }
        return result;
    }

    // An answer another get would not change: a conflict, or a claim with a withdrawn,
    // expired or fresh binding of its key (a withdrawn binding is a phone that went
    // offline, not a miss). A live binding past half its lifetime is worth asking again
    // for: the holder's newer copy may sit on other nodes.
    bool answered() const {
        if (claims.size() >= 2) return true;
        for (const auto& [key, b] : bindings)
            if (claims.count(key.first) && (b.contacts.empty() || b.expires <= now || fresh(b)))
                return true;
        return false;
    }

    static void start_round(const std::shared_ptr<LookupState>& self, DhtAccess& dht) {
        auto& st = *self;
        const unsigned replicas = std::max(1u, st.options.replicas);
        st.gets.clear();
        if (st.options.replicas_together)
            for (unsigned r = 0; r < replicas; ++r) st.gets.push_back({aor_key(st.aor, r), r});
        else
            st.gets.push_back({aor_key(st.aor, st.retries % replicas), st.retries % replicas});
        const unsigned round = ++st.round;
        for (std::size_t i = 0; i < st.gets.size(); ++i) {
            const unsigned replica = st.gets[i].replica;
            ++st.gets_started;
            dht.get(
                st.gets[i].key,
                [self, &dht, replica](const DhtAccess::Values& values) {
                    if (self->finished) return false;
                    for (const auto& v : values) self->add(*v, replica);
                    self->note_progress();
                    return check(self, dht);
                },
                [self, &dht, round, i](bool) { get_done(self, dht, round, i); });
            if (st.finished) return;  // a DhtAccess may answer inside get()
        }
    }

    static void get_done(const std::shared_ptr<LookupState>& self, DhtAccess& dht,
                         unsigned round, std::size_t index) {
        auto& st = *self;
        if (st.finished || round != st.round) return;
        st.gets[index].done = true;
        if (std::any_of(st.gets.begin(), st.gets.end(), [](const Get& g) { return !g.done; })) {
            check(self, dht);  // the keys still asked may have their quorum already
            return;
        }
        // The next get: another replica key at once; after the last, the first key
        // again, one retry_delay later, doubling each round (protocol.md §4). Keys asked
        // together: every key again, after the same delays.
        const unsigned replicas =
            st.options.replicas_together ? 1u : std::max(1u, st.options.replicas);
        const unsigned next = st.retries + 1;
        const auto delay = next % replicas != 0
                               ? std::chrono::milliseconds(0)
                               : st.options.retry_delay * (1u << std::min(next / replicas - 1, 8u));
        const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - st.started);
        if (st.answered() || st.retries >= st.options.retries ||
            elapsed + delay >= st.options.timeout) {
            st.finish(dht, false);
            return;
        }
        ++st.retries;
        st.retry_timer = dht.call_after(delay, [self, &dht] {
            self->retry_timer = 0;
            if (!self->finished) start_round(self, dht);
        });
    }

    // Called after new values and on each poll: ends the lookup early when that is safe.
    // Returns false once the lookup is over.
    static bool check(const std::shared_ptr<LookupState>& self, DhtAccess& dht) {
        auto& st = *self;
        if (st.finished) return false;
        // A pinned owner cannot be displaced by another claim, so its claim and a live
        // binding are the whole answer: no need to wait for every node (protocol.md §4).
        if (st.pinned_complete()) {
            st.finish(dht, false, true);
            return false;
        }
        if (st.options.pinned_owner) return true;
        // Two keys claim it: name_conflict, which no later answer can undo.
        if (st.claims.size() >= 2) {
            st.finish(dht, false, true);
            return false;
        }
        if (st.options.quorum == 0 || st.quorum_unsupported || st.asking || !st.single_complete())
            return true;
        // Every get of the round must have its quorum or be over (with one key: its get).
        std::vector<std::size_t> ask;
        for (std::size_t i = 0; i < st.gets.size(); ++i)
            if (!st.gets[i].done && !st.gets[i].quorum) ask.push_back(i);
        if (ask.empty()) {
            st.finish(dht, false, true);
            return false;
        }
        st.asking = static_cast<unsigned>(ask.size());
        const unsigned round = st.round;
        for (const auto i : ask) {
            dht.search_progress(st.gets[i].key, [self, &dht, round, i](
                                                    std::optional<SearchProgress> p) {
                auto& st = *self;
                --st.asking;
                if (st.finished || round != st.round) return;
                if (!p) {
                    st.quorum_unsupported = true;  // wait for the whole get
                    return;
                }
                st.progress = *p;
                st.gets[i].quorum = st.gets[i].quorum || quorum_met(*p, st.options.quorum);
                if (st.asking) return;
                // protocol.md §4: enough of the closest storage nodes have answered, and
                // all their values are in (search_progress's contract); claims can only
                // have grown since single_complete(), so look again.
                const bool all = std::all_of(st.gets.begin(), st.gets.end(),
                                             [](const Get& g) { return g.done || g.quorum; });
                if (st.single_complete() && all) {
                    st.finish(dht, false, true);
                    return;
                }
                if (st.claims.size() >= 2) {
                    st.finish(dht, false, true);
                    return;
                }
                if (!st.poll_timer)
                    st.poll_timer = dht.call_after(st.options.quorum_poll, [self, &dht] {
                        self->poll_timer = 0;
                        check(self, dht);
                    });
            });
        }
        return !st.finished;
    }
};

}  // namespace

void lookup(DhtAccess& dht, std::string aor, LookupOptions options,
            std::function<void(std::error_code, LookupResult)> done) {
    auto state = std::make_shared<LookupState>();
    state->aor = std::move(aor);
    state->options = options;
    state->done = std::move(done);
    state->now = unix_seconds(dht.now());
    state->timer = dht.call_after(options.timeout, [state, &dht] { state->finish(dht, true); });
    LookupState::start_round(state, dht);
}

}  // namespace p2psip::overlay
