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
    bool finished = false;
    std::chrono::milliseconds first_complete{-1};

    void note_progress() {
        if (first_complete.count() >= 0) return;
        for (const auto& [key, b] : bindings)
            if (claims.count(key.first) && b.expires > now && !b.contacts.empty()) {
                first_complete = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - started);
                return;
            }
    }

    bool pinned_complete() const {
        if (!options.pinned_owner || !claims.count(*options.pinned_owner)) return false;
        for (const auto& [key, b] : bindings)
            if (key.first == *options.pinned_owner && b.expires > now && !b.contacts.empty())
                return true;
        return false;
    }

    void add(const dht::Value& v) {
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
        if (it == bindings.end())
            bindings.emplace(std::move(key), std::move(b));
        else if (b.seq > it->second.seq)
            it->second = std::move(b);
    }

    void finish(DhtAccess& dht, bool timed_out) {
        if (finished) return;
        finished = true;
        if (timer && !timed_out) dht.cancel(timer);
        LookupResult result;
        result.aor = aor;
        result.ignored = ignored;
        result.first_complete = first_complete;
        result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - started);
        std::vector<Claim> all;
        for (const auto& [owner, c] : claims) all.push_back(c);
        bool conflict = false;
        const auto owner = choose_owner(all, options.pinned_owner, &conflict);
        if (owner) {
            result.owner = *owner;
            for (auto& [key, b] : bindings) {
                if (b.signer != *owner) {
                    ++result.ignored;  // signed by a key that does not hold the name
                    continue;
                }
                // A withdrawn or expired binding is a device that left, not an error.
                if (b.expires > now && !b.contacts.empty()) result.bindings.push_back(b);
            }
        } else {
            for (const auto& [key, b] : bindings) (void)b, ++result.ignored;
        }
        std::error_code ec;
        if (conflict)
            ec = make_error_code(errc::name_conflict);
        else if (result.bindings.empty())
            ec = make_error_code(timed_out && claims.empty() ? errc::timeout : errc::not_found);
        auto cb = std::move(done);
        cb(ec, std::move(result));
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
    dht.get(
        aor_key(state->aor),
        [state, &dht](const DhtAccess::Values& values) {
            if (state->finished) return false;
            for (const auto& v : values) state->add(*v);
            state->note_progress();
            // A pinned owner cannot be displaced by another claim, so its claim and a live
            // binding are the whole answer: no need to wait for every node (protocol.md §4).
            if (state->pinned_complete()) {
                state->finish(dht, false);
                return false;
            }
            return true;
        },
        [state, &dht](bool) { state->finish(dht, false); });
}

}  // namespace p2psip::overlay
