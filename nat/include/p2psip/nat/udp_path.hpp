#pragma once
#include <boost/asio.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <system_error>

namespace p2psip::nat {

// The media path to a peer that does no ICE (a plain SIP phone, sipp): one UDP socket,
// datagrams sent to the address and port in the peer's SDP (RFC 3264 §5). Like most
// phones it latches onto the source of the first datagram it receives (symmetric RTP,
// RFC 4961), so a peer behind a NAT that rewrote its port is still reached.
class UdpPath {
  public:
    static std::unique_ptr<UdpPath> open(boost::asio::io_context& io,
                                         const std::string& bind_address, std::error_code& ec);
    ~UdpPath();

    std::string local_address() const;
    std::uint16_t local_port() const;
    // Where to send; `address` is the c= address of the peer's SDP.
    std::error_code set_remote(const std::string& address, std::uint16_t port);
    void on_receive(std::function<void(std::span<const std::uint8_t>)> cb);
    std::error_code send(std::span<const std::uint8_t> datagram);
    std::string description() const;  // "udp 127.0.0.1:4000 <-> 127.0.0.1:6000"
    void close();

  private:
    explicit UdpPath(boost::asio::io_context& io);
    void receive();

    boost::asio::ip::udp::socket socket_;
    boost::asio::ip::udp::endpoint remote_, sender_;
    bool have_remote_ = false, latched_ = false;
    std::array<std::uint8_t, 2048> buffer_{};
    std::function<void(std::span<const std::uint8_t>)> on_receive_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for handlers queued at close
};

}  // namespace p2psip::nat
