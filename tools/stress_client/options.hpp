// The command line: parse_options() fills Options from argv (CLI11, tools/common/cli.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocol.hpp"

namespace stress {

struct Options {
    enum class Mode { scenario, sustained, hold };
    Mode mode = Mode::scenario;

    std::string host = "127.0.0.1";
    std::uint16_t port = 9999;  // the material's
    std::uint32_t conns = 11000;
    std::string backend;        // after parsing: --backend, else $IOMUX_BACKEND, else epoll
    std::uint32_t source_addrs = 0;
    std::uint32_t connect_window = 512;
    std::uint32_t connect_attempts = 8;
    double connect_rate = 0;      // new connections a second; 0: as fast as the window allows
    bool connect_via_reactor = false;  // no connect() shortcut: every handshake waits in the loop
    bool abortive_close = false;  // RST at the end: no TIME_WAIT
    std::uint32_t threads = 1;    // reactors (threads) per process
    std::uint32_t workers = 0;    // 0: no worker processes, this one does the work
    std::chrono::nanoseconds timeout{0};  // 60 s, or duration + 60 s sustained

    // Sustained mode.
    std::uint32_t active = 0;  // all unless given
    std::uint32_t msg_size = 64;
    std::uint32_t depth = 1;
    std::chrono::nanoseconds duration = std::chrono::seconds(5);
    double rate = 0;

    // What goes over the connections: kind, --request / --expect (decoded), --expect-status.
    // The HTTP request head is made in protocol_spec(), when the server's address is known.
    ProtocolSpec protocol;
    std::string method = "GET", path = "/";
    std::vector<std::string> headers;

    // --spawn-server.
    std::string spawn_backend;  // empty: connect to --host/--port instead
    std::string server_path;    // empty: next to this binary
    std::vector<std::string> server_args;

    std::string result_file;    // the whole result as JSON, for `stress_client merge`
    bool json = false;
    bool progress = true;
};

// nullopt: run with o. Otherwise the exit status (0 after --help, 2 after bad usage), the
// help or the reason already printed.
std::optional<int> parse_options(int argc, const char* const* argv, Options& o);

// The protocol as the engine wants it: for HTTP, with the request head made for host:port.
ProtocolSpec protocol_spec(const Options& o, const std::string& host, std::uint16_t port);

// An argument as bytes: C-style escapes (\r \n \t \0 \\ \" \' \xHH), or @FILE for a
// file's contents. Throws std::invalid_argument naming what is wrong.
std::string decode_bytes(const std::string& arg);

}  // namespace stress
