#pragma once
#include <CLI/CLI.hpp>

#include <functional>

namespace p2psip::node {

// `p2psip sim ...` runs the simulator program p2psip-sim with the same arguments. The
// simulator is a separate executable because it replaces the process's clocks with
// virtual ones (docs/simulations.md), which must never happen inside the phone.
void add_sim_command(CLI::App& app, std::function<int()>& run);

}  // namespace p2psip::node
