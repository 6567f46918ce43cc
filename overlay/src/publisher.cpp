#include "p2psip/overlay/publisher.hpp"

#include <algorithm>

#include "p2psip/overlay/error.hpp"
#include "p2psip/overlay/keys.hpp"
#include "p2psip/overlay/record.hpp"

namespace p2psip::overlay {

namespace {
constexpr std::chrono::seconds retry_delay{5};

// The value with its OpenDHT sequence number set (protocol.md §3, "Sequence numbers").
std::shared_ptr<dht::Value> numbered(std::shared_ptr<dht::Value> v, std::uint16_t seq) {
    v->seq = seq;
    return v;
}
}

std::shared_ptr<BindingPublisher> BindingPublisher::create(DhtAccess& dht, PublishConfig config) {
    return std::shared_ptr<BindingPublisher>(new BindingPublisher(dht, std::move(config)));
}

BindingPublisher::BindingPublisher(DhtAccess& dht, PublishConfig config)
    : dht_(dht), config_(std::move(config)) {}

BindingPublisher::~BindingPublisher() {
    if (refresh_timer_) dht_.cancel(refresh_timer_);
}

void BindingPublisher::start(std::function<void(std::error_code)> done) {
    // Look first: a name held by another key is refused here rather than pushed into
    // storage nodes that would reject it anyway (docs/protocol.md §3).
    struct Seen {
        bool foreign = false;
        std::uint64_t own_created = 0;
        std::uint16_t own_value_seq = 0;  // highest OpenDHT number on our own copies
    };
    auto seen = std::make_shared<Seen>();
    const auto me = dht_.identity().second->getId();
    const auto now = unix_seconds(dht_.now());
    std::weak_ptr<BindingPublisher> weak = shared_from_this();
    dht_.get(
        aor_key(config_.aor),
        [seen, me, now, aor = config_.aor,
         instance = config_.instance_id](const DhtAccess::Values& values) {
            for (const auto& v : values) {
                DecodedRecord rec;
                if (decode_record(*v, aor, rec)) continue;
                const bool ours =
                    rec.kind == DecodedRecord::Kind::claim
                        ? rec.claim.owner == me
                        : rec.binding.signer == me && rec.binding.instance_id == instance;
                if (ours) seen->own_value_seq = std::max(seen->own_value_seq, v->seq);
                if (rec.kind != DecodedRecord::Kind::claim) continue;
                if (rec.claim.expires <= now) continue;
                if (rec.claim.owner == me)
                    seen->own_created = rec.claim.created;
                else
                    seen->foreign = true;
            }
            return true;
        },
        [weak, seen, done = std::move(done)](bool) {
            auto self = weak.lock();
            if (!self) return;
            if (seen->foreign && seen->own_created == 0) {
                if (done) done(make_error_code(errc::name_taken));
                return;
            }
            self->claim_created_ =
                seen->own_created ? seen->own_created : unix_seconds(self->dht_.now());
            // Copies of ours numbered above our counter (a lost or restored value-seq
            // file): the next round must outrank them or storage nodes keep them.
            if (seen->own_value_seq > self->last_value_seq_)
                self->last_value_seq_ = seen->own_value_seq;
            self->publish(done);
        });
}

void BindingPublisher::set_contacts(std::vector<std::string> contacts) {
    config_.contacts = std::move(contacts);
    if (!stopped_ && claim_created_ != 0) publish({});
}

void BindingPublisher::publish(std::function<void(std::error_code)> done) {
    if (refresh_timer_) {
        dht_.cancel(refresh_timer_);
        refresh_timer_ = 0;
    }
    const auto me = dht_.identity().second->getId();
    const auto expires = unix_seconds(dht_.now()) + static_cast<std::uint64_t>(config_.ttl.count());
    Claim claim{config_.aor, me, claim_created_, expires};
    Binding binding{config_.aor, config_.contacts, config_.instance_id, me, expires, next_seq(), false, {}};
    binding.inbox = config_.inbox;

    // Both puts must land; the second completion reports.
    struct Pending {
        int left = 2;
        bool ok = true;
    };
    auto pending = std::make_shared<Pending>();
    std::weak_ptr<BindingPublisher> weak = shared_from_this();
    auto on_put = [weak, pending, done](bool ok) {
        pending->ok = pending->ok && ok;
        if (--pending->left > 0) return;
        auto self = weak.lock();
        if (!self || self->stopped_) return;
        if (pending->ok) {
            ++self->refreshes_;
            self->schedule_refresh();
        } else {
            // Not joined yet, or every storage node refused: try again soon.
            self->refresh_timer_ = self->dht_.call_after(retry_delay, [weak] {
                if (auto s = weak.lock()) s->publish({});
            });
        }
        if (done) done(pending->ok ? std::error_code{} : make_error_code(errc::dht_failure));
    };
    const auto value_seq = next_value_seq();
    // Numbered puts share one value per record under every key, signed once; put_signed
    // renumbers each put's value, so each key gets its own. All made before any put.
    std::vector<std::pair<std::shared_ptr<dht::Value>, std::shared_ptr<dht::Value>>> values;
    for (unsigned r = 0; r < std::max(1u, config_.replicas); ++r) {
        if (r > 0 && config_.next_value_seq)
            values.push_back(values.front());
        else
            values.emplace_back(numbered(make_claim_value(claim), value_seq),
                                numbered(make_binding_value(binding), value_seq));
    }
    // Permanent by default: OpenDHT keeps both announced to the nodes closest to the key as
    // the overlay changes, and this refresh only renews `expires` and `seq` (protocol.md §3
    // says why plain puts are not the default). The first key's puts decide success; the
    // replica keys' are best effort, so that a claim squatted under one cannot hold the
    // publisher back.
    const bool permanent = config_.permanent;
    auto put_under = [weak, values, on_put, permanent](unsigned r) {
        auto self = weak.lock();
        if (!self) return;
        const auto key = aor_key(self->config_.aor, r);
        auto done = r == 0 ? std::function<void(bool)>(on_put) : [](bool) {};
        self->put(key, values[r].first, done, permanent);
        self->put(key, values[r].second, done, permanent);
    };
    // Numbered puts skip put_signed's get; ask each key's closest nodes again instead, so
    // that the records go to the nodes that have become closest since the last round. A
    // plain put waits for those answers: it goes out once, to the nodes the search knows
    // when it is made (a permanent one follows later answers by itself).
    const unsigned keys = static_cast<unsigned>(values.size());
    if (config_.next_value_seq && !permanent) {
        for (unsigned r = 0; r < keys; ++r)
            dht_.resync(aor_key(config_.aor, r), [weak, put_under, r] {
                // A withdrawal made meanwhile must stay the last word.
                if (auto self = weak.lock(); self && !self->stopped_) put_under(r);
            });
        return;
    }
    if (config_.next_value_seq)
        for (unsigned r = 0; r < keys; ++r) dht_.resync(aor_key(config_.aor, r), {});
    for (unsigned r = 0; r < keys; ++r) put_under(r);
}

std::uint16_t BindingPublisher::next_value_seq() {
    auto seq = config_.next_value_seq ? config_.next_value_seq() : ++value_seq_;
    // Never below a number already used or seen on our own copies. Plain comparison: after
    // the counter wraps, storage nodes keep the higher copies anyway (protocol.md §3).
    if (seq <= last_value_seq_) seq = static_cast<std::uint16_t>(last_value_seq_ + 1);
    last_value_seq_ = seq;
    return seq;
}

void BindingPublisher::put(const dht::InfoHash& key, std::shared_ptr<dht::Value> value,
                           std::function<void(bool)> done, bool permanent) {
    // With a counter of our own, the numbers are right as they are: skip SecureDht's get
    // for older copies, a lookup's worth of traffic before every refresh (protocol.md §3).
    if (config_.next_value_seq)
        dht_.put_numbered(key, std::move(value), std::move(done), permanent);
    else
        dht_.put_signed(key, std::move(value), std::move(done), permanent);
}

std::uint64_t BindingPublisher::next_seq() {
    // Milliseconds since the epoch, so that a restarted instance (seq back in memory at 0)
    // still outranks the bindings of its previous run (protocol.md §3).
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(dht_.now().time_since_epoch())
            .count();
    seq_ = std::max(seq_ + 1, static_cast<std::uint64_t>(ms < 0 ? 0 : ms));
    return seq_;
}

void BindingPublisher::schedule_refresh() {
    std::weak_ptr<BindingPublisher> weak = shared_from_this();
    // Refresh at half the lifetime so one lost refresh still leaves the record alive.
    using ms = std::chrono::milliseconds;
    auto interval = std::chrono::duration_cast<ms>(config_.ttl) / 2;
    if (!config_.permanent) {
        // A plain put lives on a storage node only for the storage lifetime: refresh within
        // half of that too, whatever the record's own lifetime.
        interval = std::min(interval, std::chrono::duration_cast<ms>(config_.storage_lifetime) / 2);
        // Nor does it follow the key's closest nodes as they change, and they change most
        // just after a start: the node's routing table is still filling, and nodes started
        // with it are still joining. So the first refreshes come early, doubling from
        // first_refresh up to the regular interval (protocol.md §3, "Plain puts").
        if (refreshes_ >= 1 && refreshes_ <= 16)
            interval = std::min(interval, config_.first_refresh * (1 << (refreshes_ - 1)));
    }
    refresh_timer_ = dht_.call_after(interval, [weak] {
        if (auto self = weak.lock()) {
            self->refresh_timer_ = 0;
            self->publish({});
        }
    });
}

void BindingPublisher::withdraw(std::function<void()> done) {
    stopped_ = true;
    if (refresh_timer_) {
        dht_.cancel(refresh_timer_);
        refresh_timer_ = 0;
    }
    const auto me = dht_.identity().second->getId();
    Binding binding{config_.aor, {}, config_.instance_id, me, unix_seconds(dht_.now()), next_seq(), false, {}};
    const auto value_seq = next_value_seq();
    // Under every replica key; `done` once all have been answered.
    const unsigned keys = std::max(1u, config_.replicas);
    auto left = std::make_shared<unsigned>(keys);
    auto finished = std::make_shared<std::function<void()>>(std::move(done));
    const auto withdrawal = numbered(make_binding_value(binding), value_seq);
    for (unsigned r = 0; r < keys; ++r) {
        const auto key = aor_key(config_.aor, r);
        dht_.cancel_put(key, binding_value_id(config_.aor, config_.instance_id));
        // One value signed once when numbered; put_signed renumbers its own copy.
        put(
            key,
            config_.next_value_seq ? withdrawal : numbered(make_binding_value(binding), value_seq),
            [left, finished](bool) {
                if (--*left == 0 && *finished) (*finished)();
            },
            false);
    }
}

}  // namespace p2psip::overlay
