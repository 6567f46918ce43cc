#include "p2psip/nat/stun_mapping.hpp"

#include <netinet/in.h>
#include <stun/stunagent.h>
#include <stun/usages/bind.h>
#include <sys/socket.h>

#include <cstring>

#include "p2psip/nat/error.hpp"

namespace p2psip::nat {

namespace asio = boost::asio;

struct StunMapping::Agent {
    StunAgent agent{};
    static constexpr uint16_t kKnown[] = {STUN_ATTRIBUTE_MAPPED_ADDRESS,
                                          STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS,
                                          STUN_ATTRIBUTE_SOFTWARE, STUN_ATTRIBUTE_FINGERPRINT, 0};
    Agent() {
        stun_agent_init(&agent, kKnown, STUN_COMPATIBILITY_RFC5389,
                        static_cast<StunAgentUsageFlags>(STUN_AGENT_USAGE_USE_FINGERPRINT |
                                                         STUN_AGENT_USAGE_IGNORE_CREDENTIALS));
    }
};

std::shared_ptr<StunMapping> StunMapping::create(asio::io_context& io, Config config, SendFn send) {
    return std::make_shared<StunMapping>(Passkey{}, io, std::move(config), std::move(send));
}

StunMapping::StunMapping(Passkey, asio::io_context& io, Config config, SendFn send)
    : io_(io),
      config_(std::move(config)),
      send_(std::move(send)),
      timer_(io),
      agent_(std::make_unique<Agent>()) {}

StunMapping::~StunMapping() {
    stop();
}

bool StunMapping::is_stun(std::span<const uint8_t> d) {
    return d.size() >= 20 && d[0] < 4;
}

void StunMapping::start(MappingFn on_mapping) {
    on_mapping_ = std::move(on_mapping);
    running_ = true;
    begin_binding();
}

void StunMapping::stop() {
    running_ = false;
    in_flight_ = false;
    on_mapping_ = nullptr;
    timer_.cancel();
}

void StunMapping::refresh() {
    if (running_ && !in_flight_) begin_binding();
}

void StunMapping::begin_binding() {
    if (!running_) return;
    StunMessage msg;
    request_size_ = stun_usage_bind_create(&agent_->agent, &msg, request_.data(), request_.size());
    attempts_ = 0;
    in_flight_ = request_size_ > 0;
    if (!in_flight_) {
        finish(make_error_code(Errc::stun_error), {});
        return;
    }
    send_request();
}

void StunMapping::send_request() {
    if (!running_ || !in_flight_) return;
    if (attempts_ > config_.max_retransmissions) {
        in_flight_ = false;
        finish(make_error_code(Errc::stun_timeout), {});
        return;
    }
    send_(std::span<const uint8_t>(request_.data(), request_size_), config_.server);
    const auto wait = config_.rto * (1u << std::min(attempts_, 6u));
    ++attempts_;
    std::weak_ptr<StunMapping> weak = weak_from_this();
    timer_.expires_after(wait);
    timer_.async_wait([weak](const boost::system::error_code& ec) {
        if (ec) return;
        if (auto self = weak.lock()) self->send_request();
    });
}

bool StunMapping::on_datagram(std::span<const uint8_t> d, const Endpoint& from) {
    if (!is_stun(d) || from != config_.server) return false;
    if (!in_flight_) return true;  // late duplicate
    StunMessage msg;
    // Checks the transaction id is one we sent, the cookie, length and fingerprint.
    if (stun_agent_validate(&agent_->agent, &msg, d.data(), d.size(), nullptr, nullptr) !=
        STUN_VALIDATION_SUCCESS)
        return true;
    sockaddr_storage addr{}, alt{};
    socklen_t addr_len = sizeof addr, alt_len = sizeof alt;
    const auto rc = stun_usage_bind_process(&msg, reinterpret_cast<sockaddr*>(&addr), &addr_len,
                                            reinterpret_cast<sockaddr*>(&alt), &alt_len);
    if (rc == STUN_USAGE_BIND_RETURN_INVALID) return true;
    in_flight_ = false;
    timer_.cancel();
    if (rc != STUN_USAGE_BIND_RETURN_SUCCESS) {
        finish(make_error_code(Errc::stun_error), {});
        return true;
    }
    Endpoint mapped;
    if (addr.ss_family == AF_INET) {
        const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
        mapped = Endpoint(asio::ip::address_v4(ntohl(a->sin_addr.s_addr)), ntohs(a->sin_port));
    } else if (addr.ss_family == AF_INET6) {
        const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
        asio::ip::address_v6::bytes_type b;
        std::memcpy(b.data(), &a->sin6_addr, b.size());
        mapped = Endpoint(asio::ip::address_v6(b), ntohs(a->sin6_port));
    } else {
        finish(make_error_code(Errc::stun_error), {});
        return true;
    }
    mapped_ = mapped;
    finish({}, mapped);
    return true;
}

void StunMapping::finish(std::error_code ec, const Endpoint& mapped) {
    if (!running_) return;
    // Next keep-alive Binding: after the interval on success, sooner after a failure.
    std::weak_ptr<StunMapping> weak = weak_from_this();
    timer_.expires_after(ec ? std::min(config_.interval, std::chrono::milliseconds(5000))
                            : config_.interval);
    timer_.async_wait([weak](const boost::system::error_code& e) {
        if (e) return;
        if (auto self = weak.lock()) self->begin_binding();
    });
    if (on_mapping_) {
        auto cb = on_mapping_;
        cb(ec, mapped);
    }
}

}  // namespace p2psip::nat
