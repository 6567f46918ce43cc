// p2psip: a serverless SIP phone. `p2psip node ...` runs a phone; the other
// subcommands are tools. Exceptions stop here, at the program's edge.
#include <CLI/CLI.hpp>
#include <boost/asio.hpp>

#include <cstdio>
#include <sstream>

#include "console.hpp"
#include "log.hpp"
#include "options.hpp"
#include "phone.hpp"
#include "sim_command.hpp"
#include "sip_lint.hpp"
#include "tools.hpp"

namespace {

using namespace p2psip::node;

int run_node(PhoneOptions options) {
    if (auto err = finalize(options); !err.empty()) {
        std::fprintf(stderr, "p2psip: %s\n", err.c_str());
        return 1;
    }
    std::string name = options.user;
    if (auto at = name.find('@'); at != std::string::npos) name = name.substr(0, at);
    if (auto colon = name.find(':'); colon != std::string::npos) name = name.substr(colon + 1);
    auto log = make_logger(name.empty() ? "node" : name, options.log_level);

    boost::asio::io_context io;
    Phone phone(io, options, log);
    if (auto err = phone.start(); !err.empty()) {
        log->error("{}", err);
        return 1;
    }
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int sig) {
        if (!ec) {
            log->info("signal {}: shutting down", sig);
            phone.quit(0);
        }
    });

    Console console(io, [&](const std::string& line) {
        std::istringstream in(line);
        std::string cmd, arg;
        in >> cmd >> arg;
        if (cmd.empty()) return;
        if (cmd == "call" && !arg.empty())
            phone.dial(arg);
        else if (cmd == "answer")
            phone.answer();
        else if (cmd == "hangup")
            phone.hangup();
        else if (cmd == "hold")
            phone.hold();
        else if (cmd == "resume")
            phone.resume();
        else if (cmd == "dtmf" && !arg.empty())
            phone.send_dtmf(arg);
        else if ((cmd == "message" || cmd == "msg") && !arg.empty()) {
            std::string text;
            std::getline(in >> std::ws, text);
            if (text.empty())
                std::printf("message: no text (message AOR TEXT)\n");
            else
                phone.send_message(arg, text);
        } else if (cmd == "quit" || cmd == "exit")
            phone.quit(0);
        else if (cmd == "status")
            std::printf("%s\n", phone.status().c_str());
        else
            std::printf(
                "commands: call AOR | answer | hangup | hold | resume | dtmf DIGITS | "
                "message AOR TEXT | status | quit\n");
        std::fflush(stdout);
    });
    if (options.console && !console.start())
        log->debug("stdin is not a terminal or pipe: console off");

    io.run();
    return phone.exit_code();
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"p2psip: a serverless SIP phone on OpenDHT"};
    app.require_subcommand(1);
    std::function<int()> run;

    PhoneOptions options;
    auto* node = app.add_subcommand("node", "run a phone that publishes its AOR in the DHT");
    add_phone_options(*node, options);
    node->callback([&] { run = [&] { return run_node(options); }; });

    add_tool_commands(app, run);
    add_sim_command(app, run);
    add_sip_lint_command(app, run);

    try {
        app.parse(argc, argv);
        return run ? run() : 0;
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "p2psip: fatal: %s\n", e.what());
        return 1;
    }
}
