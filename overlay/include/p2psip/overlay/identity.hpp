#pragma once
#include <opendht/crypto.h>

#include <cstdint>
#include <filesystem>
#include <system_error>

namespace p2psip::overlay {

// A node's long-term identity: an RSA-3072 key and a self-signed certificate made by
// OpenDHT's crypto (GnuTLS). RSA rather than EC because OpenDHT can only encrypt to RSA
// keys (putEncrypted), which DHT-carried signalling needs; 3072 bits gives 128-bit
// security and takes ~0.2 s to generate once. See docs/protocol.md.
struct Identity {
    dht::crypto::Identity dht;  // key + certificate, as OpenDHT wants them
    bool created = false;       // true when this call generated it
};

inline constexpr unsigned identity_key_bits = 3072;

// Loads <dir>/identity.key and <dir>/identity.crt, or creates them (mode 0600, the
// directory 0700) when neither exists. A half-present or unreadable pair is an error,
// never silently replaced: the key is what holds the user's names.
std::error_code load_or_create_identity(const std::filesystem::path& dir, const std::string& name,
                                        Identity& out);

// A stable per-installation instance id (16 random bytes in <dir>/instance-id).
std::error_code load_or_create_instance_id(const std::filesystem::path& dir, std::string& out);

// The OpenDHT sequence number of this node's last put (PublishConfig::next_value_seq), in
// <dir>/value-seq as decimal text, so that a restarted node continues it (protocol.md §3).
// A missing file reads as 0. The store writes a temporary file and renames it over.
std::error_code load_value_seq(const std::filesystem::path& dir, std::uint16_t& out);
std::error_code store_value_seq(const std::filesystem::path& dir, std::uint16_t seq);

// This installation's OpenDHT node id, in <dir>/dht-node-id as 40 lowercase hex digits: 160 random
// bits drawn at the first start and kept, so that a restarted phone comes back under the id
// its old contacts still hold for it. With a new id at every start, OpenDHT's tables keep
// the old id, counted good for ten minutes, at an address that no longer answers to it
// (simulations.md, "Keeping the node id"). Random per installation, not derived from the
// identity key: two devices of one user must not share a node id.
std::error_code load_or_create_dht_node_id(const std::filesystem::path& dir, dht::InfoHash& out);

}  // namespace p2psip::overlay
