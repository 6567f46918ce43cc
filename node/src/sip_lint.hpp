#pragma once
#include <CLI/CLI.hpp>

#include <functional>

namespace p2psip::node {

// `p2psip sip-lint FILE... [--datagram]`: checks files ("-" = stdin) as SIP messages and
// prints "FILE: ok SUMMARY" or "FILE: invalid: REASON" for each; exit status 1 if any file
// is invalid or unreadable. Stream framing (RFC 3261 §18.3, Content-Length required) unless
// --datagram. Registers itself on `app` and sets `run` when chosen.
void add_sip_lint_command(CLI::App& app, std::function<int()>& run);

}  // namespace p2psip::node
