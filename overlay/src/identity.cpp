#include "p2psip/overlay/identity.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <iterator>

#include "p2psip/overlay/error.hpp"

namespace p2psip::overlay {

namespace fs = std::filesystem;

namespace {

bool read_file(const fs::path& path, std::string& out) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return false;
    out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return !in.bad();
}

// Created with O_EXCL and 0600 so the key is never readable by others, even briefly.
std::error_code write_private_file(const fs::path& path, std::string_view data) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return {errno, std::generic_category()};
    std::size_t off = 0;
    while (off < data.size()) {
        const auto n = ::write(fd, data.data() + off, data.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            const std::error_code ec{errno, std::generic_category()};
            ::close(fd);
            return ec;
        }
        off += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) return {errno, std::generic_category()};
    return {};
}

std::error_code ensure_private_dir(const fs::path& dir) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return make_error_code(errc::identity_io);
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
    return ec ? make_error_code(errc::identity_io) : std::error_code{};
}

}  // namespace

std::error_code load_or_create_identity(const fs::path& dir, const std::string& name,
                                        Identity& out) {
    if (auto ec = ensure_private_dir(dir)) return ec;
    const auto key_path = dir / "identity.key";
    const auto crt_path = dir / "identity.crt";
    const bool have_key = fs::exists(key_path);
    const bool have_crt = fs::exists(crt_path);

    if (have_key != have_crt) return make_error_code(errc::identity_invalid);
    if (have_key) {
        std::string key_pem, crt_pem;
        if (!read_file(key_path, key_pem) || !read_file(crt_path, crt_pem))
            return make_error_code(errc::identity_io);
        try {  // OpenDHT reports parse failures by exception: stop them here.
            auto key = std::make_shared<dht::crypto::PrivateKey>(std::string_view(key_pem));
            auto crt = std::make_shared<dht::crypto::Certificate>(std::string_view(crt_pem));
            if (!*key || !*crt || crt->getId() != key->getPublicKey().getId())
                return make_error_code(errc::identity_invalid);
            out.dht = {std::move(key), std::move(crt)};
            out.created = false;
            return {};
        } catch (const std::exception&) {
            return make_error_code(errc::identity_invalid);
        }
    }

    try {
        out.dht = dht::crypto::generateIdentity(name, {}, identity_key_bits);
    } catch (const std::exception&) {
        return make_error_code(errc::identity_invalid);
    }
    const auto key_blob = out.dht.first->serialize();
    const std::string crt_pem = out.dht.second->toString(false);
    if (write_private_file(
            key_path,
            std::string_view(reinterpret_cast<const char*>(key_blob.data()), key_blob.size())) ||
        write_private_file(crt_path, crt_pem))
        return make_error_code(errc::identity_io);
    out.created = true;
    return {};
}

std::error_code load_or_create_instance_id(const fs::path& dir, std::string& out) {
    if (auto ec = ensure_private_dir(dir)) return ec;
    const auto path = dir / "instance-id";
    if (fs::exists(path)) {
        if (!read_file(path, out)) return make_error_code(errc::identity_io);
        if (out.size() != 16) return make_error_code(errc::identity_invalid);
        return {};
    }
    std::string id(16, '\0');
    if (::getrandom(id.data(), id.size(), 0) != static_cast<ssize_t>(id.size()))
        return make_error_code(errc::identity_io);
    if (write_private_file(path, id)) return make_error_code(errc::identity_io);
    out = std::move(id);
    return {};
}

std::error_code load_or_create_dht_node_id(const fs::path& dir, dht::InfoHash& out) {
    if (auto ec = ensure_private_dir(dir)) return ec;
    const auto path = dir / "dht-node-id";
    std::error_code ec;
    if (fs::exists(path, ec)) {
        std::string text;
        if (!read_file(path, text)) return make_error_code(errc::identity_io);
        while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
        const bool hex = text.size() == 2 * dht::InfoHash::size() &&
                         text.find_first_not_of("0123456789abcdef") == std::string::npos;
        if (!hex) return make_error_code(errc::identity_invalid);
        dht::InfoHash id(text);
        if (!id) return make_error_code(errc::identity_invalid);  // zero: OpenDHT would draw one
        out = id;
        return {};
    }
    if (ec) return make_error_code(errc::identity_io);
    dht::InfoHash id;
    do {
        if (::getrandom(id.data(), id.size(), 0) != static_cast<ssize_t>(id.size()))
            return make_error_code(errc::identity_io);
    } while (!id);
    if (write_private_file(path, id.toString() + "\n")) return make_error_code(errc::identity_io);
    out = id;
    return {};
}

std::error_code load_value_seq(const fs::path& dir, std::uint16_t& out) {
    const auto path = dir / "value-seq";
    std::error_code ec;
    if (!fs::exists(path, ec)) {
        if (ec) return make_error_code(errc::identity_io);
        out = 0;
        return {};
    }
    std::string text;
    if (!read_file(path, text)) return make_error_code(errc::identity_io);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    unsigned value = 0;
    const auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || err != std::errc{} || end != text.data() + text.size() || value > 0xFFFF)
        return make_error_code(errc::identity_invalid);
    out = static_cast<std::uint16_t>(value);
    return {};
}

std::error_code store_value_seq(const fs::path& dir, std::uint16_t seq) {
    if (auto ec = ensure_private_dir(dir)) return ec;
    const auto path = dir / "value-seq";
    const auto tmp = dir / "value-seq.tmp";
    std::error_code ec;
    fs::remove(tmp, ec);
    if (write_private_file(tmp, std::to_string(seq) + "\n")) return make_error_code(errc::identity_io);
    fs::rename(tmp, path, ec);
    if (ec) return make_error_code(errc::identity_io);
    return {};
}

}  // namespace p2psip::overlay
