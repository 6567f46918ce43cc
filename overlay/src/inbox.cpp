#include "p2psip/overlay/inbox.hpp"

#include <chrono>

#include "p2psip/overlay/error.hpp"
#include "p2psip/overlay/keys.hpp"
#include "record.pb.h"

namespace p2psip::overlay {

namespace {
constexpr std::size_t kSeenLimit = 1024;

std::uint64_t unix_ms(std::chrono::system_clock::time_point t) {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count());
}
}  // namespace

std::shared_ptr<Inbox> Inbox::create(DhtAccess& dht, std::string instance_id) {
    return std::shared_ptr<Inbox>(new Inbox(dht, std::move(instance_id)));
}

Inbox::Inbox(DhtAccess& dht, std::string instance_id)
    : dht_(dht), instance_id_(std::move(instance_id)) {}

Inbox::~Inbox() {
    stop();
}

std::error_code Inbox::listen(const dht::InfoHash& key) {
    if (listens_.count(key)) return {};
    std::weak_ptr<Inbox> weak = weak_from_this();
    const auto token = dht_.listen(key, [weak, key](const DhtAccess::Values& values) {
        if (auto self = weak.lock()) self->on_values(key, values);
    });
    if (!token) return make_error_code(errc::dht_failure);
    listens_.emplace(key, Listening{token, unix_ms(dht_.now())});
    return {};
}

void Inbox::unlisten(const dht::InfoHash& key) {
    auto it = listens_.find(key);
    if (it == listens_.end()) return;
    dht_.cancel_listen(it->second.token);
    listens_.erase(it);
}

void Inbox::stop() {
    for (const auto& [key, l] : listens_) dht_.cancel_listen(l.token);
    listens_.clear();
    on_signal_ = nullptr;
}

void Inbox::on_values(const dht::InfoHash& key, const DhtAccess::Values& values) {
    const auto now = unix_ms(dht_.now());
    for (const auto& v : values) {
        if (!v) continue;
        if (!seen_.insert(v->id).second) {
            ++stats_.duplicate;
            continue;
        }
        seen_order_.push_back(v->id);
        if (seen_order_.size() > kSeenLimit) {
            seen_.erase(seen_order_.front());
            seen_order_.pop_front();
        }
        // SecureDht hands over values encrypted to us decrypted and signature-checked;
        // anything still encrypted (or unsigned) is not for us.
        if (v->isEncrypted() || !v->isSigned() || !v->owner || v->user_type != signal_user_type) {
            ++stats_.invalid;
            continue;
        }
        v1::Signal msg;
        if (!msg.ParseFromArray(v->data.data(), static_cast<int>(v->data.size())) ||
            msg.sip().empty()) {
            ++stats_.invalid;
            continue;
        }
        const auto l = listens_.find(key);
        const std::uint64_t since = l == listens_.end() ? now : l->second.since_ms;
        if (msg.sent_ms() + kMaxAgeMs < now || msg.sent_ms() > now + kMaxAgeMs ||
            msg.sent_ms() + kSkewMs < since) {
            ++stats_.stale;
            continue;
        }
        Signal s;
        s.key = key;
        s.from_instance = msg.from_instance();
        s.from_contact = msg.from_contact();
        s.lan_contact = msg.lan_contact();
        s.sent_ms = msg.sent_ms();
        s.sip = msg.sip();
        s.sender = v->owner;
        ++stats_.received;
        if (on_signal_) on_signal_(s);
    }
}

void Inbox::send(const dht::InfoHash& key, std::shared_ptr<const dht::crypto::PublicKey> to,
                 const std::string& from_contact, const std::string& lan_contact, std::string sip,
                 std::function<void(bool)> done) {
    if (!to) {
        ++stats_.send_failed;
        if (done) done(false);
        return;
    }
    v1::Signal msg;
    msg.set_from_instance(instance_id_);
    msg.set_from_contact(from_contact);
    msg.set_lan_contact(lan_contact);
    msg.set_sent_ms(unix_ms(dht_.now()));
    msg.set_sip(std::move(sip));
    std::string bytes;
    msg.SerializeToString(&bytes);
    auto value =
        std::make_shared<dht::Value>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    value->user_type = std::string(signal_user_type);
    std::weak_ptr<Inbox> weak = weak_from_this();
    dht_.put_encrypted(key, std::move(to), std::move(value),
                       [weak, done = std::move(done)](bool ok) {
                           if (auto self = weak.lock())
                               ++(ok ? self->stats_.sent : self->stats_.send_failed);
                           if (done) done(ok);
                       });
}

}  // namespace p2psip::overlay
