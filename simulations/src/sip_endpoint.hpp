#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace p2psip::sip {
class Message;
}

namespace p2psip::sim {

class Node;

// The SIP side of a simulated phone, for call attempts: the caller sends an INVITE to the
// contact its lookup returned, the callee answers 200 OK, the caller ACKs (RFC 3261 §13,
// §17). Messages are built and parsed by the project's sip/ library and travel over the
// simulated network like the DHT's datagrams (same latency, loss and NAT model), with
// RFC 3261's UDP retransmissions: INVITE on Timer A until Timer B, 2xx until the ACK
// (§13.3.1.4). No media: a call is set up when the caller has its 200 OK.
class SipEndpoint {
  public:
    // status: the final response's code, or 408 when Timer B fired without one.
    using Done = std::function<void(int status)>;

    explicit SipEndpoint(Node& node) : node_(node) {}
    // INVITE `contact` (a binding's contact URI) for `aor`.
    void invite(std::string_view contact, std::string_view aor, Done done);
    void on_datagram(const std::uint8_t* data, std::size_t size, const Node& from);
    bool idle() const { return clients_.empty() && servers_.empty(); }

  private:
    struct Client {  // an INVITE client transaction and the ACK after it
        std::string invite, ack;
        std::uint32_t to = 0;  // callee node index
        std::int64_t interval_ms = 0;
        bool final = false;
        Done done;
    };
    struct Server {  // an answered INVITE: its 200 OK, sent until the ACK comes
        std::string response;
        std::uint32_t to = 0;
        std::int64_t interval_ms = 0;
        bool acked = false;
    };
    void retransmit_invite(const std::string& call_id);
    void retransmit_response(const std::string& call_id);
    void on_request(const sip::Message& msg, const Node& from);
    void on_response(const sip::Message& msg);
    std::string token();

    Node& node_;
    std::map<std::string, Client, std::less<>> clients_;  // by Call-ID
    std::map<std::string, Server, std::less<>> servers_;
};

}  // namespace p2psip::sim
