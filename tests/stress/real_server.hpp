// RealServer: a server the tests did not write (nginx, redis-server, the project's
// http_hello), started on 127.0.0.1 and an unprivileged port, and stopped by its pid when the
// test ends, however it ends (RAII: SIGTERM, then SIGKILL). Its files (nginx's config, logs,
// pid file, document root) live in a temporary directory removed with it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/child_process.hpp"

namespace stress_test {

class RealServer {
public:
    // nginx serving `page` at /index.html, with `directives` added to its server block.
    static RealServer nginx(const std::string& page, const std::string& directives = {});
    static RealServer redis();
    // examples/http_hello ($HTTP_HELLO), which announces its own port.
    static RealServer http_hello();

    RealServer(RealServer&& other) noexcept
        : dir_(std::exchange(other.dir_, {})), port_(other.port_), child_(std::move(other.child_)) {
        other.child_.reset();
    }
    ~RealServer();

    std::uint16_t port() const noexcept { return port_; }
    // What the server wrote to its own log files, for a failing test's message.
    std::string logs() const;

private:
    RealServer() = default;
    void start(std::vector<std::string> argv);

    std::filesystem::path dir_;
    std::uint16_t port_ = 0;
    std::optional<iomux::tools::ChildProcess> child_;
};

// The absolute path of a program, in $PATH or /usr/sbin; fails the test when missing.
std::string require_program(const std::string& name);

}  // namespace stress_test
