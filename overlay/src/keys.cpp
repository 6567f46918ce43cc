#include "p2psip/overlay/keys.hpp"

#include <string>

namespace p2psip::overlay {

namespace {
// First 8 bytes of SHA-1(label), big-endian; 0 is OpenDHT's "no id" so it maps to 1.
dht::Value::Id id_from(const std::string& label) {
    const auto h = dht::InfoHash::get(label);
    dht::Value::Id id = 0;
    for (std::size_t i = 0; i < 8; ++i) id = (id << 8) | h[i];
    return id == 0 ? 1 : id;
}
}  // namespace

dht::InfoHash aor_key(std::string_view canonical_aor) {
    return dht::InfoHash::get("p2psip:aor:" + std::string(canonical_aor));
}

dht::InfoHash aor_key(std::string_view canonical_aor, unsigned replica) {
    if (replica == 0) return aor_key(canonical_aor);
    return dht::InfoHash::get("p2psip:aor/" + std::to_string(replica) + ":" +
                              std::string(canonical_aor));
}

dht::Value::Id claim_value_id(std::string_view canonical_aor) {
    return id_from("p2psip:claim:" + std::string(canonical_aor));
}

dht::Value::Id binding_value_id(std::string_view canonical_aor, std::string_view instance_id) {
    std::string label = "p2psip:binding:";
    label.append(canonical_aor).push_back('\n');
    label.append(instance_id);
    return id_from(label);
}

}  // namespace p2psip::overlay
