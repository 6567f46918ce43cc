#include "p2psip/nat/udp_path.hpp"

#include "p2psip/nat/error.hpp"

namespace p2psip::nat {

namespace asio = boost::asio;

UdpPath::UdpPath(asio::io_context& io) : socket_(io) {}

UdpPath::~UdpPath() {
    close();
}

std::unique_ptr<UdpPath> UdpPath::open(asio::io_context& io, const std::string& bind_address,
                                       std::error_code& ec) {
    boost::system::error_code bec;
    const auto address =
        asio::ip::make_address(bind_address.empty() ? "0.0.0.0" : bind_address, bec);
    if (bec) {
        ec = Errc::invalid_address;
        return nullptr;
    }
    std::unique_ptr<UdpPath> path(new UdpPath(io));
    path->socket_.open(address.is_v4() ? asio::ip::udp::v4() : asio::ip::udp::v6(), bec);
    if (!bec) path->socket_.bind({address, 0}, bec);
    if (!bec) path->socket_.non_blocking(true, bec);
    if (bec) {
        ec = std::error_code(bec.value(), std::system_category());
        return nullptr;
    }
    ec.clear();
    path->receive();
    return path;
}

std::string UdpPath::local_address() const {
    boost::system::error_code ec;
    const auto ep = socket_.local_endpoint(ec);
    return ec ? std::string() : ep.address().to_string();
}

std::uint16_t UdpPath::local_port() const {
    boost::system::error_code ec;
    const auto ep = socket_.local_endpoint(ec);
    return ec ? 0 : ep.port();
}

std::error_code UdpPath::set_remote(const std::string& address, std::uint16_t port) {
    boost::system::error_code ec;
    const auto a = asio::ip::make_address(address, ec);
    if (ec || port == 0) return Errc::invalid_address;
    remote_ = {a, port};
    have_remote_ = true;
    latched_ = false;
    return {};
}

void UdpPath::on_receive(std::function<void(std::span<const std::uint8_t>)> cb) {
    on_receive_ = std::move(cb);
}

std::error_code UdpPath::send(std::span<const std::uint8_t> datagram) {
    if (!socket_.is_open()) return Errc::closed;
    if (!have_remote_) return Errc::not_connected;
    boost::system::error_code ec;
    // Media must never block the loop: a full socket buffer drops the packet, as loss.
    socket_.send_to(asio::buffer(datagram.data(), datagram.size()), remote_, 0, ec);
    return ec && ec != asio::error::would_block ? make_error_code(Errc::send_failed)
                                                : std::error_code{};
}

void UdpPath::receive() {
    socket_.async_receive_from(
        asio::buffer(buffer_), sender_,
        [this, alive = alive_](const boost::system::error_code& ec, std::size_t n) {
            if (!*alive || ec == asio::error::operation_aborted || !socket_.is_open()) return;
            if (!ec) {
                if (!latched_ && have_remote_ && sender_ != remote_) {
                    remote_ = sender_;  // RFC 4961: answer where the media comes from
                }
                latched_ = true;
                if (on_receive_) on_receive_(std::span<const std::uint8_t>(buffer_.data(), n));
            }
            receive();
        });
}

std::string UdpPath::description() const {
    return "udp " + local_address() + ":" + std::to_string(local_port()) + " <-> " +
           (have_remote_ ? remote_.address().to_string() + ":" + std::to_string(remote_.port())
                         : "?");
}

void UdpPath::close() {
    *alive_ = false;
    boost::system::error_code ec;
    socket_.close(ec);
}

}  // namespace p2psip::nat
