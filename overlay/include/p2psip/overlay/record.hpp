#pragma once
#include <opendht/crypto.h>
#include <opendht/value.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace p2psip::overlay {

struct Claim {
    std::string aor;
    dht::InfoHash owner;
    std::uint64_t created = 0;
    std::uint64_t expires = 0;
};

struct Binding {
    std::string aor;
    std::vector<std::string> contacts;
    std::string instance_id;
    dht::InfoHash signer;
    std::uint64_t expires = 0;
    std::uint64_t seq = 0;
    bool inbox = false;  // the instance takes DHT-carried SIP under its AOR key (Inbox)
    // Verified public key of the signer (set by decode_record; needed to encrypt to it).
    std::shared_ptr<const dht::crypto::PublicKey> signer_key;
};

std::uint64_t unix_seconds(std::chrono::system_clock::time_point t);

// Unsigned OpenDHT values carrying the protobuf record; SecureDht signs them on put.
std::shared_ptr<dht::Value> make_claim_value(const Claim& claim);
std::shared_ptr<dht::Value> make_binding_value(const Binding& binding);

// What a verified value says; kind tells which of claim/binding is filled.
struct DecodedRecord {
    enum class Kind { claim, binding } kind = Kind::claim;
    Claim claim;
    Binding binding;
};

// Accepts a value only if it is signed, the signature verifies, it carries a p2psip
// record for `aor`, the record names its signer, and the value id matches the id the
// record must be stored under. Anything else is errc::bad_record.
std::error_code decode_record(const dht::Value& value, std::string_view aor, DecodedRecord& out);

}  // namespace p2psip::overlay
