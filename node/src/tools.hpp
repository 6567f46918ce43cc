#pragma once
#include <CLI/CLI.hpp>

#include <functional>

namespace p2psip::node {

// Small subcommands for people debugging audio and overlays: tone, analyze, lookup,
// publish. Each registers itself on `app` and sets `run` when chosen.
void add_tool_commands(CLI::App& app, std::function<int()>& run);

}  // namespace p2psip::node
