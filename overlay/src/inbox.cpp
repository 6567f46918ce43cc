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
    : dht_(dht),
      instance_id_(std::move(instance_id)),
      key_(inbox_key(dht.identity().first->getPublicKey().getId(), instance_id_)) {}

Inbox::~Inbox() {
    stop();
}

std::error_code Inbox::start(std::function<void(const Signal&)> on_signal) {
    on_signal_ = std::move(on_signal);
    std::weak_ptr<Inbox> weak = weak_from_this();
    listen_token_ = dht_.listen(key_, [weak](const DhtAccess::Values& values) {
        if (auto self = weak.lock()) self->on_values(values);
    });
    return listen_token_ ? std::error_code{} : make_error_code(errc::dht_failure);
}

void Inbox::stop() {
    if (listen_token_) dht_.cancel_listen(listen_token_);
    listen_token_ = 0;
    on_signal_ = nullptr;
}

void Inbox::on_values(const DhtAccess::Values& values) {
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
        if (v->isEncrypted() || !v->isSigned() || !v->owner ||
            v->user_type != signal_user_type) {
            ++stats_.invalid;
            continue;
        }
        v1::Signal msg;
        if (!msg.ParseFromArray(v->data.data(), static_cast<int>(v->data.size())) ||
            msg.sip().empty()) {
            ++stats_.invalid;
            continue;
        }
        if (msg.sent_ms() + kMaxAgeMs < now || msg.sent_ms() > now + kMaxAgeMs) {
            ++stats_.stale;
            continue;
        }
        Signal s;
        s.from_instance = msg.from_instance();
        s.from_contact = msg.from_contact();
        s.sent_ms = msg.sent_ms();
        s.sip = msg.sip();
        s.sender = v->owner;
        ++stats_.received;
        if (on_signal_) on_signal_(s);
    }
}

void Inbox::send(std::shared_ptr<const dht::crypto::PublicKey> to, const std::string& to_instance,
                 const std::string& from_contact, std::string sip,
                 std::function<void(bool)> done) {
    if (!to) {
        ++stats_.send_failed;
        if (done) done(false);
        return;
    }
    v1::Signal msg;
    msg.set_from_instance(instance_id_);
    msg.set_from_contact(from_contact);
    msg.set_sent_ms(unix_ms(dht_.now()));
    msg.set_sip(std::move(sip));
    std::string bytes;
    msg.SerializeToString(&bytes);
    auto value = std::make_shared<dht::Value>(reinterpret_cast<const uint8_t*>(bytes.data()),
                                              bytes.size());
    value->user_type = std::string(signal_user_type);
    const auto key = inbox_key(to->getId(), to_instance);
    std::weak_ptr<Inbox> weak = weak_from_this();
    dht_.put_encrypted(key, std::move(to), std::move(value),
                       [weak, done = std::move(done)](bool ok) {
                           if (auto self = weak.lock()) ++(ok ? self->stats_.sent
                                                              : self->stats_.send_failed);
                           if (done) done(ok);
                       });
}

}  // namespace p2psip::overlay
