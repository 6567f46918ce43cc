#pragma once
#include <boost/asio.hpp>

#include <functional>
#include <string>

namespace p2psip::node {

namespace asio = boost::asio;

// Reads command lines from stdin without blocking the io_context. When stdin is not
// pollable (a regular file) or reaches EOF, the console goes quiet; the node runs on.
class Console {
  public:
    Console(asio::io_context& io, std::function<void(const std::string&)> on_line);
    ~Console();
    bool start();

  private:
    void read();
    asio::posix::stream_descriptor in_;
    asio::streambuf buffer_;
    std::function<void(const std::string&)> on_line_;
};

}  // namespace p2psip::node
