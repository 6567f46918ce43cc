#include "log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace p2psip::node {

std::shared_ptr<spdlog::logger> make_logger(const std::string& name, const std::string& level) {
    auto logger = spdlog::stderr_color_mt(name);
    logger->set_pattern("%H:%M:%S.%e [%n] %^%l%$ %v");
    logger->set_level(spdlog::level::from_str(level));
    logger->flush_on(spdlog::level::trace);
    return logger;
}

}  // namespace p2psip::node
