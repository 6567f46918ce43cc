#pragma once
#include <opendht/infohash.h>
#include <opendht/value.h>

#include <string_view>

namespace p2psip::overlay {

// Key derivation, docs/protocol.md §2. The AOR must already be canonical
// ("sip:user@host", host lower-case, user unescaped, no port/params).
dht::InfoHash aor_key(std::string_view canonical_aor);
// The AOR's replica keys: replica 0 is aor_key(), replica r > 0 is
// SHA-1("p2psip:aor/<r>:" + aor). A holder puts the same records under each, so they sit
// on two unrelated sets of storage nodes; a lookup that finds nothing under one asks the
// next (protocol.md §2, §4).
dht::InfoHash aor_key(std::string_view canonical_aor, unsigned replica);
inline constexpr unsigned aor_replicas = 2;
dht::Value::Id claim_value_id(std::string_view canonical_aor);
dht::Value::Id binding_value_id(std::string_view canonical_aor, std::string_view instance_id);

// OpenDHT user_type carried by every p2psip value, so other data under a key is ignored.
inline constexpr std::string_view record_user_type = "p2psip/1";
// user_type of Signal values (DHT-carried SIP).
inline constexpr std::string_view signal_user_type = "p2psip/signal/1";

}  // namespace p2psip::overlay
