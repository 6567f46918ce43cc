#include "p2psip/overlay/record.hpp"

#include "p2psip/overlay/error.hpp"
#include "p2psip/overlay/keys.hpp"
#include "record.pb.h"

namespace p2psip::overlay {

namespace {

std::string key_id_bytes(const dht::InfoHash& h) {
    return std::string(reinterpret_cast<const char*>(h.data()), h.size());
}

bool key_id_from(const std::string& bytes, dht::InfoHash& out) {
    if (bytes.size() != dht::InfoHash::size()) return false;
    out = dht::InfoHash(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    return true;
}

std::shared_ptr<dht::Value> make_value(const v1::Record& record, dht::Value::Id id) {
    std::string bytes;
    record.SerializeToString(&bytes);
    auto value = std::make_shared<dht::Value>(dht::Blob(bytes.begin(), bytes.end()));
    value->id = id;
    value->user_type = std::string(record_user_type);
    return value;
}

}  // namespace

std::uint64_t unix_seconds(std::chrono::system_clock::time_point t) {
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
    return s < 0 ? 0 : static_cast<std::uint64_t>(s);
}

std::shared_ptr<dht::Value> make_claim_value(const Claim& claim) {
    v1::Record record;
    auto* c = record.mutable_claim();
    c->set_aor(claim.aor);
    c->set_owner_key_id(key_id_bytes(claim.owner));
    c->set_created(claim.created);
    c->set_expires(claim.expires);
    return make_value(record, claim_value_id(claim.aor));
}

std::shared_ptr<dht::Value> make_binding_value(const Binding& binding) {
    v1::Record record;
    auto* b = record.mutable_binding();
    b->set_aor(binding.aor);
    for (const auto& c : binding.contacts) b->add_contacts(c);
    b->set_instance_id(binding.instance_id);
    b->set_signer_key_id(key_id_bytes(binding.signer));
    b->set_expires(binding.expires);
    b->set_seq(binding.seq);
    b->set_inbox(binding.inbox);
    return make_value(record, binding_value_id(binding.aor, binding.instance_id));
}

std::error_code decode_record(const dht::Value& value, std::string_view aor, DecodedRecord& out) {
    const auto bad = make_error_code(errc::bad_record);
    // SecureDht already dropped values whose signature fails; check again because
    // this function is also the simulator's and the tests' gate.
    if (!value.isSigned() || !value.owner || !value.checkSignature()) return bad;
    if (value.user_type != record_user_type) return bad;

    v1::Record record;
    if (!record.ParseFromArray(value.data.data(), static_cast<int>(value.data.size()))) return bad;
    const auto signer = value.owner->getId();

    switch (record.kind_case()) {
        case v1::Record::kClaim: {
            const auto& c = record.claim();
            if (c.aor() != aor || value.id != claim_value_id(aor)) return bad;
            if (!key_id_from(c.owner_key_id(), out.claim.owner) || out.claim.owner != signer)
                return bad;
            out.kind = DecodedRecord::Kind::claim;
            out.claim.aor = c.aor();
            out.claim.created = c.created();
            out.claim.expires = c.expires();
            return {};
        }
        case v1::Record::kBinding: {
            const auto& b = record.binding();
            if (b.aor() != aor || value.id != binding_value_id(aor, b.instance_id())) return bad;
            if (!key_id_from(b.signer_key_id(), out.binding.signer) || out.binding.signer != signer)
                return bad;
            out.kind = DecodedRecord::Kind::binding;
            out.binding.aor = b.aor();
            out.binding.contacts.assign(b.contacts().begin(), b.contacts().end());
            out.binding.instance_id = b.instance_id();
            out.binding.expires = b.expires();
            out.binding.seq = b.seq();
            out.binding.inbox = b.inbox();
            out.binding.signer_key = value.owner;
            return {};
        }
        default:
            return bad;
    }
}

}  // namespace p2psip::overlay
