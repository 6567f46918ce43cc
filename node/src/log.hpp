#pragma once
#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace p2psip::node {

// One logger per node, named after the user so interleaved test output stays readable.
// Every line carries the wall-clock time with milliseconds (the issue asks for "each step
// with its time"); logs go to stderr so stdout keeps only reports and console replies.
std::shared_ptr<spdlog::logger> make_logger(const std::string& name, const std::string& level);

}  // namespace p2psip::node
