#pragma once
#include <spdlog/logger.h>
#include <boost/asio.hpp>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "bridge.hpp"
#include "call.hpp"
#include "options.hpp"
#include "p2psip/overlay/publisher.hpp"
#include "p2psip/sip/registrar.hpp"
#include "p2psip/sip/ua.hpp"

namespace p2psip::node {

// The node as registrar and B2BUA for plain SIP phones on the LAN (docs/user-guide.md
// "Plain SIP phones"). A phone registers one of the configured accounts (digest
// authentication); while it is registered the node publishes the account's AOR in the
// DHT, signed by the node's key, pointing at the node. Calls from the phone go out through
// the DHT like the node's own; calls to the AOR ring every registered contact. Media is
// anchored in the node (bridge.hpp). The registrar has its own SIP socket, on the LAN
// address only (never a wildcard unless the config asks).
class Gateway {
  public:
    using ReportFn = std::function<void(const CallReport&)>;
    // `node_contacts` gives the node's own overlay contacts (Signaling::contacts()).
    Gateway(CallEnv& env, overlay::DhtAccess& dht, std::string instance_id,
            std::function<std::vector<std::string>()> node_contacts, ReportFn report);
    ~Gateway();
    Gateway(const Gateway&) = delete;
    Gateway& operator=(const Gateway&) = delete;

    std::string start();  // binds the registrar; a message for the user on failure
    bool serves(const std::string& aor) const;
    void on_overlay_invite(std::shared_ptr<sip::Session> session);
    void contacts_changed();             // the node's address changed: republish every binding
    void stop();                         // withdraws the bindings, ends the calls
    std::string listen_address() const;  // "IP:PORT"
    std::string status() const;

  private:
    void on_phone_invite(std::shared_ptr<sip::Session> session);
    void on_registrations(const std::string& aor, const std::vector<sip::Registration>& contacts);
    std::vector<std::string> contacts_for(const std::string& aor) const;
    void on_bridge_ended(const CallReport& report);

    CallEnv& env_;
    overlay::DhtAccess& dht_;
    std::string instance_id_;
    std::function<std::vector<std::string>()> node_contacts_;
    ReportFn report_;
    const GatewayOptions& options_;
    std::string listen_host_;
    std::uint16_t listen_port_ = 0;
    std::unique_ptr<sip::UserAgent> lan_;
    std::unique_ptr<sip::Registrar> registrar_;
    std::unique_ptr<BridgeEnv> bridge_env_;
    std::map<std::string, std::shared_ptr<overlay::BindingPublisher>> publishers_;
    std::set<std::shared_ptr<Bridge>> bridges_;
    bool stopped_ = false;
};

}  // namespace p2psip::node
