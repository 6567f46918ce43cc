#include "sip_lint.hpp"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "p2psip/sip/lint.hpp"

namespace p2psip::node {

namespace {

struct LintArgs {
    std::vector<std::string> files;
    bool datagram = false;
};

bool read_all(const std::string& path, std::string& out) {
    if (path == "-") {
        out.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
        return !std::cin.bad();
    }
    std::ifstream f(path, std::ios::binary);
    if (!f) return false;
    out.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    return !f.bad();
}

int run_lint(const LintArgs& a) {
    const auto framing = a.datagram ? sip::Framing::datagram : sip::Framing::stream;
    int status = 0;
    for (const auto& file : a.files) {
        std::string bytes;
        if (!read_all(file, bytes)) {
            std::printf("%s: invalid: cannot read file\n", file.c_str());
            status = 1;
            continue;
        }
        auto r = sip::lint(bytes, framing);
        if (r.ok) {
            std::printf("%s: ok %s\n", file.c_str(), r.summary.c_str());
        } else {
            std::printf("%s: invalid: %s\n", file.c_str(), r.reason.c_str());
            status = 1;
        }
    }
    std::fflush(stdout);
    return status;
}

}  // namespace

void add_sip_lint_command(CLI::App& app, std::function<int()>& run) {
    auto args = std::make_shared<LintArgs>();
    auto* cmd = app.add_subcommand("sip-lint", "check files as SIP messages (RFC 3261)");
    cmd->add_option("files", args->files, "message files, - for stdin")->required();
    cmd->add_flag("--datagram", args->datagram,
                  "UDP framing: Content-Length optional, trailing octets discarded");
    cmd->callback([args, &run] { run = [args] { return run_lint(*args); }; });
}

}  // namespace p2psip::node
