// Linked only into simulator executables, like virtual_clock.cpp: this file redefines nine
// member functions of OpenDHT 2.4.12's dht::crypto::PublicKey for the whole process
// (libopendht.so calls them through its PLT, so the executable's definitions win).
//
// Why: in a simulation every node re-derives the same facts about the same few keys and
// the same signed values, and holds its own copy of them. Each storing node and each getter
// verifies every copy of a value it receives (Dht::onAnnounce store/edit policy,
// SecureDht::checkValue, overlay decode), every pack of a value re-encodes its owner's key
// to DER (asn1) and hashes it for the key ids, and every value unpacked from a datagram
// carries its own GnuTLS key (Value::msgpack_unpack). A real node does this work and holds
// this memory once per copy it receives; the simulator, which is every node at once, shares
// it process-wide:
//  - checkSignature: the verification result for exactly these (key, signed bytes,
//    signature) — keyed by SHA-256 over all three — is computed once by OpenDHT's own
//    function and reused. A changed byte anywhere is a different key and is verified
//    afresh, so which values are accepted is exactly what OpenDHT decides.
//  - pack / getId / getLongId: the key's DER encoding and its ids, per distinct key
//    (RSA modulus and exponent), computed by GnuTLS once.
//  - unpack: the first time given bytes are seen they are imported by OpenDHT's rule (PEM,
//    then DER) into a GnuTLS key kept for the whole run; every later PublicKey unpacked
//    from the same bytes points at that key instead of importing its own copy. The
//    destructor and move assignment leave shared keys alone. A key imported from the same
//    bytes is the same key, so every answer is the one the object's own copy would give.
// Outcomes are unchanged; only CPU time and memory are saved (docs/simulations.md,
// "Crypto cache").
#include <dlfcn.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include <opendht/crypto.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "crypto_cache.hpp"

namespace {

struct KeyInfo {
    std::vector<std::uint8_t> der;
    dht::InfoHash id;
    dht::PkId long_id;
    bool der_ok = false, id_ok = false, long_ok = false;
};

// Key bytes as received (PEM or DER) -> the GnuTLS key imported from them, shared by every
// PublicKey unpacked from the same bytes and never freed (a run sees a few dozen keys).
struct ViewHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
        return std::hash<std::string_view>{}(s);
    }
};
std::unordered_map<std::string, gnutls_pubkey_t, ViewHash, std::equal_to<>>& shared_by_bytes() {
    static std::unordered_map<std::string, gnutls_pubkey_t, ViewHash, std::equal_to<>> m;
    return m;
}
// The same keys, to tell them apart in the destructor and move assignment.
std::unordered_set<gnutls_pubkey_t>& shared_keys() {
    static std::unordered_set<gnutls_pubkey_t> s;
    return s;
}

using Digest = std::array<std::uint8_t, 32>;
struct DigestHash {
    std::size_t operator()(const Digest& d) const noexcept {
        std::size_t h;
        std::memcpy(&h, d.data(), sizeof h);
        return h;
    }
};

// One lock for the caches: worker threads share them (the phone never links this file).
std::mutex g_mutex;
std::unordered_map<std::string, KeyInfo>& keys() {
    static std::unordered_map<std::string, KeyInfo> m;
    return m;
}
std::unordered_map<Digest, bool, DigestHash>& verdicts() {
    static std::unordered_map<Digest, bool, DigestHash> m;
    return m;
}
p2psip::sim::CryptoCacheStats g_stats;

void append_datum(std::string& out, const gnutls_datum_t& d) {
    const std::uint32_t n = d.size;
    out.append(reinterpret_cast<const char*>(&n), sizeof n);
    out.append(reinterpret_cast<const char*>(d.data), d.size);
}

// The key's identity: RSA (n, e), cheap to read; otherwise its DER encoding.
bool key_material(gnutls_pubkey_t pk, std::string& out) {
    out.clear();
    gnutls_datum_t m{}, e{};
    if (gnutls_pubkey_export_rsa_raw2(pk, &m, &e, 0) == GNUTLS_E_SUCCESS) {
        out.push_back('R');
        append_datum(out, m);
        append_datum(out, e);
        gnutls_free(m.data);
        gnutls_free(e.data);
        return true;
    }
    gnutls_datum_t der{};
    if (gnutls_pubkey_export2(pk, GNUTLS_X509_FMT_DER, &der) != GNUTLS_E_SUCCESS) return false;
    out.push_back('D');
    append_datum(out, der);
    gnutls_free(der.data);
    return true;
}

KeyInfo* key_info(gnutls_pubkey_t pk) {
    if (!pk) return nullptr;
    thread_local std::string material;
    if (!key_material(pk, material)) return nullptr;
    auto it = keys().find(material);
    if (it == keys().end()) it = keys().emplace(material, KeyInfo{}).first;
    return &it->second;
}

// OpenDHT's own definitions, for cache misses and for P2PSIP_SIM_NO_CRYPTO_CACHE.
template <typename Fn>
Fn original(const char* mangled) {
    return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, mangled));
}
using PublicKey = dht::crypto::PublicKey;
using CheckFn = bool (*)(const PublicKey*, const std::uint8_t*, std::size_t, const std::uint8_t*,
                         std::size_t);
using PackRawFn = int (*)(const PublicKey*, std::uint8_t*, std::size_t*);
using PackBlobFn = void (*)(const PublicKey*, dht::Blob&);
using GetIdFn = const dht::InfoHash& (*)(const PublicKey*);
using GetLongIdFn = const dht::PkId& (*)(const PublicKey*);
using UnpackFn = void (*)(PublicKey*, const std::uint8_t*, std::size_t);
using DestroyFn = void (*)(PublicKey*);
using MoveAssignFn = PublicKey& (*)(PublicKey*, PublicKey&&);
struct Originals {
    CheckFn check = original<CheckFn>("_ZNK3dht6crypto9PublicKey14checkSignatureEPKhmS3_m");
    PackRawFn pack_raw = original<PackRawFn>("_ZNK3dht6crypto9PublicKey4packEPhPm");
    PackBlobFn pack_blob =
        original<PackBlobFn>("_ZNK3dht6crypto9PublicKey4packERSt6vectorIhSaIhEE");
    GetIdFn get_id = original<GetIdFn>("_ZNK3dht6crypto9PublicKey5getIdEv");
    GetLongIdFn get_long_id = original<GetLongIdFn>("_ZNK3dht6crypto9PublicKey9getLongIdEv");
    UnpackFn unpack = original<UnpackFn>("_ZN3dht6crypto9PublicKey6unpackEPKhm");
    DestroyFn destroy = original<DestroyFn>("_ZN3dht6crypto9PublicKeyD1Ev");
    MoveAssignFn move_assign = original<MoveAssignFn>("_ZN3dht6crypto9PublicKeyaSEOS1_");
    // Set P2PSIP_SIM_NO_CRYPTO_CACHE=1 to run OpenDHT's functions unchanged (same results,
    // slower): the tests compare both.
    bool bypass = std::getenv("P2PSIP_SIM_NO_CRYPTO_CACHE") != nullptr;
    bool complete() const {
        return check && pack_raw && pack_blob && get_id && get_long_id && unpack && destroy &&
               move_assign;
    }
};
const Originals& orig() {
    static const Originals o;
    return o;
}
bool bypass() {
    return orig().bypass || !orig().complete();
}

}  // namespace

namespace p2psip::sim {
CryptoCacheStats crypto_cache_stats() {
    std::lock_guard lock(g_mutex);
    g_stats.keys = keys().size();
    g_stats.verdicts = verdicts().size();
    return g_stats;
}
}  // namespace p2psip::sim

namespace dht::crypto {

namespace {
bool is_shared(gnutls_pubkey_t k) {
    std::lock_guard lock(g_mutex);
    return shared_keys().count(k) != 0;
}
}  // namespace

void PublicKey::unpack(const std::uint8_t* data, std::size_t data_size) {
    if (bypass()) return orig().unpack(this, data, data_size);
    const std::string_view bytes(reinterpret_cast<const char*>(data), data_size);
    {
        std::lock_guard lock(g_mutex);
        auto it = shared_by_bytes().find(bytes);
        if (it != shared_by_bytes().end()) {
            // The key OpenDHT's default constructor made is not needed.
            if (pk && !shared_keys().count(pk)) gnutls_pubkey_deinit(pk);
            pk = it->second;
            return;
        }
    }
    // First sight: OpenDHT's own order, PEM then DER, into a key kept for the run.
    gnutls_pubkey_t key = nullptr;
    if (int err = gnutls_pubkey_init(&key))
        throw CryptoException(std::string("Can't initialize public key: ") + gnutls_strerror(err));
    const gnutls_datum_t dat{const_cast<std::uint8_t*>(data), static_cast<unsigned>(data_size)};
    int err = gnutls_pubkey_import(key, &dat, GNUTLS_X509_FMT_PEM);
    if (err != GNUTLS_E_SUCCESS) err = gnutls_pubkey_import(key, &dat, GNUTLS_X509_FMT_DER);
    if (err != GNUTLS_E_SUCCESS) {
        gnutls_pubkey_deinit(key);
        throw CryptoException(std::string("Could not read public key: ") + gnutls_strerror(err));
    }
    std::lock_guard lock(g_mutex);
    // Another thread may have imported the same bytes meanwhile: keep the first.
    auto [it, inserted] = shared_by_bytes().emplace(std::string(bytes), key);
    if (inserted)
        shared_keys().insert(key);
    else
        gnutls_pubkey_deinit(key);
    if (pk && !shared_keys().count(pk)) gnutls_pubkey_deinit(pk);
    pk = it->second;
}

PublicKey::~PublicKey() {
    if (bypass() && orig().destroy) {
        orig().destroy(this);
        return;
    }
    if (pk && !is_shared(pk)) gnutls_pubkey_deinit(pk);  // OpenDHT's, but for shared keys
    pk = nullptr;
}

PublicKey& PublicKey::operator=(PublicKey&& o) noexcept {
    if (bypass() && orig().move_assign) return orig().move_assign(this, std::move(o));
    if (pk && !is_shared(pk)) gnutls_pubkey_deinit(pk);
    pk = o.pk;
    o.pk = nullptr;
    return *this;
}

int PublicKey::pack(std::uint8_t* out, std::size_t* out_len) const {
    if (bypass()) return orig().pack_raw(this, out, out_len);
    std::lock_guard lock(g_mutex);
    auto* info = key_info(pk);
    if (!info) return gnutls_pubkey_export(pk, GNUTLS_X509_FMT_DER, out, out_len);
    if (!info->der_ok) {
        gnutls_datum_t der{};
        if (int err = gnutls_pubkey_export2(pk, GNUTLS_X509_FMT_DER, &der)) return err;
        info->der.assign(der.data, der.data + der.size);
        gnutls_free(der.data);
        info->der_ok = true;
    }
    if (!out || *out_len < info->der.size()) {
        *out_len = info->der.size();
        return GNUTLS_E_SHORT_MEMORY_BUFFER;
    }
    std::memcpy(out, info->der.data(), info->der.size());
    *out_len = info->der.size();
    return GNUTLS_E_SUCCESS;
}

void PublicKey::pack(Blob& b) const {
    if (bypass()) return orig().pack_blob(this, b);
    if (!pk) throw CryptoException("Could not export public key: null key");
    std::size_t size = 0;
    int err = pack(nullptr, &size);
    if (err == GNUTLS_E_SHORT_MEMORY_BUFFER) {
        const auto at = b.size();
        b.resize(at + size);
        err = pack(b.data() + at, &size);
        if (err == GNUTLS_E_SUCCESS) return;
        b.resize(at);
    }
    throw CryptoException(std::string("Could not export public key: ") + gnutls_strerror(err));
}

const InfoHash& PublicKey::getId() const {
    if (bypass()) return orig().get_id(this);
    if (pk && !idCached_.load()) {
        std::lock_guard lock(g_mutex);
        auto* info = key_info(pk);
        if (!info || !info->id_ok) {
            InfoHash id;
            std::size_t sz = id.size();
            if (auto err = gnutls_pubkey_get_key_id(pk, 0, id.data(), &sz))
                throw CryptoException(std::string("Can't get public key ID: ") +
                                      gnutls_strerror(err));
            if (sz != id.size()) throw CryptoException("Can't get public key ID: wrong length.");
            if (!info) {
                cachedId_ = id;
                idCached_.store(true);
                return cachedId_;
            }
            info->id = id;
            info->id_ok = true;
        }
        cachedId_ = info->id;
        idCached_.store(true);
    }
    return cachedId_;
}

const PkId& PublicKey::getLongId() const {
    if (bypass()) return orig().get_long_id(this);
    if (pk && !longIdCached_.load()) {
        std::lock_guard lock(g_mutex);
        auto* info = key_info(pk);
        if (!info || !info->long_ok) {
            PkId h;
            std::size_t sz = h.size();
            if (auto err = gnutls_pubkey_get_key_id(pk, GNUTLS_KEYID_USE_SHA256, h.data(), &sz))
                throw CryptoException(std::string("Can't get 256 bits public key ID: ") +
                                      gnutls_strerror(err));
            if (sz != h.size())
                throw CryptoException("Can't get 256 bits public key ID: wrong length.");
            if (!info) {
                cachedLongId_ = h;
                longIdCached_.store(true);
                return cachedLongId_;
            }
            info->long_id = h;
            info->long_ok = true;
        }
        cachedLongId_ = info->long_id;
        longIdCached_.store(true);
    }
    return cachedLongId_;
}

bool PublicKey::checkSignature(const std::uint8_t* data, std::size_t data_len,
                               const std::uint8_t* signature, std::size_t signature_len) const {
    const auto check = orig().check;
    auto& stats = p2psip::sim::crypto_cache_stats_ref();
    thread_local std::string material;
    if (bypass() || !pk || !key_material(pk, material)) {
        {
            std::lock_guard lock(g_mutex);
            ++stats.verify_calls;
        }
        return check ? check(this, data, data_len, signature, signature_len) : false;
    }
    // SHA-256 over (key, signed bytes, signature), each length-prefixed.
    thread_local std::string buf;
    buf.clear();
    buf.append(material);
    const auto put = [&](const std::uint8_t* p, std::size_t n) {
        const std::uint64_t len = n;
        buf.append(reinterpret_cast<const char*>(&len), sizeof len);
        buf.append(reinterpret_cast<const char*>(p), n);
    };
    put(data, data_len);
    put(signature, signature_len);
    Digest d;
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, buf.data(), buf.size(), d.data()) != 0) {
        {
            std::lock_guard lock(g_mutex);
            ++stats.verify_calls;
        }
        return check(this, data, data_len, signature, signature_len);
    }
    {
        std::lock_guard lock(g_mutex);
        ++stats.lookups;
        auto it = verdicts().find(d);
        if (it != verdicts().end()) return it->second;
        ++stats.verify_calls;
    }
    // Two threads may verify the same value at once; both get the same answer.
    const bool ok = check(this, data, data_len, signature, signature_len);
    std::lock_guard lock(g_mutex);
    verdicts().emplace(d, ok);
    return ok;
}

}  // namespace dht::crypto

namespace p2psip::sim {
CryptoCacheStats& crypto_cache_stats_ref() {
    return g_stats;
}
}  // namespace p2psip::sim
