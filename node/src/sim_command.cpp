#include "sim_command.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace p2psip::node {

namespace fs = std::filesystem;

namespace {
std::string find_simulator() {
    if (const char* env = std::getenv("P2PSIP_SIM"); env && *env) return env;
    std::error_code ec;
    const auto self = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        for (const auto& candidate :
             {self.parent_path() / "p2psip-sim",
              self.parent_path().parent_path() / "simulations" / "p2psip-sim"})
            if (fs::exists(candidate, ec)) return candidate.string();
    }
    return "p2psip-sim";  // from PATH
}
}  // namespace

void add_sim_command(CLI::App& app, std::function<int()>& run) {
    auto args = std::make_shared<std::vector<std::string>>();
    auto* cmd = app.add_subcommand("sim",
                                   "simulate the overlay at scale: p2psip sim SCENARIO.toml "
                                   "[--seed N] [--nodes N] [--out DIR] (see p2psip-sim --help)");
    cmd->prefix_command();  // everything after `sim` belongs to p2psip-sim
    cmd->callback([&run, cmd, args] {
        *args = cmd->remaining();
        run = [args] {
            const auto sim = find_simulator();
            std::vector<char*> argv;
            argv.push_back(const_cast<char*>(sim.c_str()));
            for (auto& a : *args) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execvp(argv[0], argv.data());
            std::fprintf(stderr, "p2psip: cannot run %s: %s\n", sim.c_str(), std::strerror(errno));
            return 127;
        };
    });
}

}  // namespace p2psip::node
