#include "console.hpp"

#include <unistd.h>

#include <istream>

namespace p2psip::node {

Console::Console(asio::io_context& io, std::function<void(const std::string&)> on_line)
    : in_(io), on_line_(std::move(on_line)) {}

Console::~Console() {
    boost::system::error_code ec;
    in_.cancel(ec);  // the descriptor is our dup of stdin; closing it is fine
}

bool Console::start() {
    const int fd = ::dup(STDIN_FILENO);
    if (fd < 0) return false;
    boost::system::error_code ec;
    in_.assign(fd, ec);
    if (ec) {
        ::close(fd);
        return false;
    }
    read();
    return true;
}

void Console::read() {
    asio::async_read_until(in_, buffer_, '\n',
                           [this](const boost::system::error_code& ec, std::size_t) {
                               if (ec) return;  // EOF or error: stop listening
                               std::istream is(&buffer_);
                               std::string line;
                               std::getline(is, line);
                               if (!line.empty() && line.back() == '\r') line.pop_back();
                               on_line_(line);
                               read();
                           });
}

}  // namespace p2psip::node
