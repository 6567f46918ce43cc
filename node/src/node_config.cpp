#include "node_config.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <toml++/toml.h>

#include <functional>
#include <map>

#include "options.hpp"
#include "p2psip/sip/uri.hpp"

namespace p2psip::node {

namespace {

// One table's keys, each with its reader; anything else is an error (a typo must not
// be ignored silently).
class TableReader {
  public:
    using Check = std::function<std::string(const toml::node&)>;  // "" = fine, else why
    TableReader(const std::filesystem::path& file, std::string prefix)
        : file_(file), prefix_(std::move(prefix)) {}

    void key(const char* name, Check check) { keys_[name] = std::move(check); }

    std::string read(const toml::table& t) const {
        for (const auto& [k, v] : t) {
            const std::string name(k.str());
            auto it = keys_.find(name);
            if (it == keys_.end()) return where(v, name) + ": unknown key";
            if (auto why = it->second(v); !why.empty()) return where(v, name) + ": " + why;
        }
        return {};
    }

    std::string where(const toml::node& n, const std::string& name) const {
        return fmt::format("{}:{}: key '{}{}'", file_.string(), n.source().begin.line, prefix_,
                           name);
    }

  private:
    const std::filesystem::path& file_;
    std::string prefix_;
    std::map<std::string, Check> keys_;
};

TableReader::Check text(std::string& out) {
    return [&out](const toml::node& n) -> std::string {
        if (!n.is_string()) return "expected a string";
        out = *n.value<std::string>();
        return {};
    };
}

TableReader::Check count(unsigned& out, unsigned min, unsigned max) {
    return [&out, min, max](const toml::node& n) -> std::string {
        if (!n.is_integer()) return "expected a whole number";
        const auto v = *n.value<std::int64_t>();
        if (v < min || v > max) return fmt::format("{} is outside {}..{}", v, min, max);
        out = static_cast<unsigned>(v);
        return {};
    };
}

TableReader::Check flag(bool& out) {
    return [&out](const toml::node& n) -> std::string {
        if (!n.is_boolean()) return "expected true or false";
        out = *n.value<bool>();
        return {};
    };
}

TableReader::Check algorithms(std::vector<std::string>& out) {
    return [&out](const toml::node& n) -> std::string {
        const auto* list = n.as_array();
        if (!list || list->empty()) return R"(expected a list such as ["SHA-256", "MD5"])";
        std::vector<std::string> got;
        for (const auto& v : *list) {
            auto name = v.value<std::string>();
            if (!name || (*name != "SHA-256" && *name != "MD5"))
                return R"(only "SHA-256" and "MD5" are supported)";
            got.push_back(*name);
        }
        out = std::move(got);
        return {};
    };
}

}  // namespace

std::string load_node_config(const std::filesystem::path& path, GatewayOptions& out) {
    toml::table root;
    try {  // toml++ reports parse errors by exception: turned into the message here.
        root = toml::parse_file(path.string());
    } catch (const toml::parse_error& e) {
        return fmt::format("{}:{}: {}", path.string(), e.source().begin.line, e.description());
    }
    TableReader top(path, "");  // only for where(): the two tables are read below
    for (const auto& [k, n] : root) {
        const std::string name(k.str());
        if (name == "gateway") {
            if (!n.is_table()) return top.where(n, name) + ": expected a [gateway] table";
            const auto& t = *n.as_table();
            TableReader g(path, "gateway.");
            g.key("listen", text(out.listen));
            g.key("realm", text(out.realm));
            g.key("max_failures", count(out.max_failures, 1, 1000));
            g.key("block_seconds", count(out.block_seconds, 1, 86400));
            g.key("max_expires", count(out.max_expires, 60, 86400));
            g.key("min_expires", count(out.min_expires, 1, 3600));
            g.key("phone_srtp", flag(out.phone_srtp));
            g.key("digest", algorithms(out.digest));
            if (auto why = g.read(t); !why.empty()) return why;
            if (!out.listen.empty() && !parse_ip_port(out.listen))
                return g.where(*t.get("listen"), "listen") +
                       ": expected IP:PORT, e.g. 192.168.1.10:5070";
            if (out.min_expires > out.max_expires)
                return g.where(n, "min_expires") + ": larger than max_expires";
        } else if (name == "account") {
            if (!n.is_array_of_tables())
                return top.where(n, name) + ": expected [[account]] entries";
            for (const auto& entry : *n.as_array()) {
                AccountOptions a;
                TableReader r(path, "account.");
                r.key("aor", text(a.aor));
                r.key("username", text(a.username));
                r.key("password", text(a.password));
                if (auto why = r.read(*entry.as_table()); !why.empty()) return why;
                sip::Uri uri;
                std::string aor = a.aor;
                if (!aor.empty() && aor.rfind("sip:", 0) != 0) aor = "sip:" + aor;
                if (a.aor.empty() || sip::parse_uri(aor, uri) || uri.user.empty() ||
                    uri.host.empty())
                    return r.where(entry, "aor") +
                           ": missing or not a SIP address like sip:alice@example.org";
                a.aor = sip::canonical_aor(uri);
                if (a.username.empty()) a.username = uri.user;
                if (a.password.empty()) return r.where(entry, "password") + ": missing or empty";
                for (const auto& other : out.accounts)
                    if (other.aor == a.aor)
                        return r.where(entry, "aor") + ": " + a.aor + " is listed twice";
                out.accounts.push_back(std::move(a));
            }
        } else {
            return top.where(n, name) + ": unknown key (expected [gateway] or [[account]])";
        }
    }
    return {};
}

namespace {
bool is_private_v4(std::uint32_t a) {  // host order
    return (a >> 24) == 10 || (a >> 20) == 0xAC1 || (a >> 16) == 0xC0A8 || (a >> 24) == 127;
}
}  // namespace

std::string default_registrar_address(const std::string& bind) {
    in_addr given{};
    if (::inet_pton(AF_INET, bind.c_str(), &given) == 1 && is_private_v4(ntohl(given.s_addr)) &&
        given.s_addr != 0)
        return bind;
    std::string found = "127.0.0.1";
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) return found;
    for (auto* i = list; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
        const auto a = ntohl(reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr);
        if (is_private_v4(a) && (a >> 24) != 127) {
            found = fmt::format("{}.{}.{}.{}", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
            break;
        }
    }
    ::freeifaddrs(list);
    return found;
}

}  // namespace p2psip::node
