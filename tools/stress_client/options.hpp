// The command line: parse_options() turns argv into Options or throws UsageError (exit 2).
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace stress {

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Options {
    enum class Mode { scenario, sustained };
    Mode mode = Mode::scenario;

    std::string host = "127.0.0.1";
    std::uint16_t port = 9999;  // the material's
    std::uint32_t conns = 11000;
    std::string backend;        // empty: iomux::default_backend() ($IOMUX_BACKEND or epoll)
    std::uint32_t source_addrs = 0;
    std::uint32_t connect_window = 512;
    std::uint32_t connect_attempts = 8;
    bool connect_via_reactor = false;  // no connect() shortcut: every handshake waits in the loop
    bool abortive_close = false;  // RST at the end: no TIME_WAIT
    std::uint32_t threads = 1;    // reactors (threads) per process
    std::uint32_t workers = 0;    // 0: no worker processes, this one does the work
    std::chrono::nanoseconds timeout{0};  // 0 until parsed: 60 s, or duration + 60 s sustained

    // Sustained mode.
    std::uint32_t active = 0;  // 0: all
    std::uint32_t msg_size = 64;
    std::uint32_t depth = 1;
    std::chrono::nanoseconds duration = std::chrono::seconds(5);
    double rate = 0;

    // --spawn-server.
    std::string spawn_backend;  // empty: connect to --host/--port instead
    std::string server_path;    // empty: next to this binary
    std::vector<std::string> server_args;

    bool json = false;
    bool progress = true;
    bool help = false;
};

// args excludes the program name.
Options parse_options(std::span<const char* const> args);
std::string usage_text();

}  // namespace stress
