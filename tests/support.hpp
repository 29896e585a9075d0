// Helpers shared by the test programs.
#pragma once

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <memory>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "poller/poller.hpp"
#include "poller/unique_fd.hpp"

namespace iomux::test {

// The backend under test: meson runs each test program once per backend, with
// IOMUX_BACKEND set (see tests/meson.build); default_backend() reads it.
inline std::string backend() { return default_backend(); }

struct SocketPair {
    UniqueFd a, b;
};

// A connected AF_UNIX stream pair, non-blocking and close-on-exec.
inline SocketPair socket_pair() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        throw std::system_error(errno, std::generic_category(), "socketpair");
    return {UniqueFd(sv[0]), UniqueFd(sv[1])};
}

// Raises the soft RLIMIT_NOFILE to the hard limit and returns it.
inline rlim_t raise_fd_limit() {
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
    return rl.rlim_cur;
}

// The exception CountingPoller can inject (Python's test_modify_unregister uses
// ZeroDivisionError): neither a system_error nor an iomux error, so it must pass untouched.
struct InjectedError : std::runtime_error {
    InjectedError() : std::runtime_error("injected by CountingPoller::do_modify") {}
};

struct PollerCalls {
    int adds = 0, modifies = 0, rearms = 0, removes = 0;
    int exclusive_adds = 0;  // the adds made with Wakeup::exclusive, counted in adds too
    int total() const { return adds + modifies + rearms + removes; }
};

// The real backend under test behind a Poller that counts what its user asks of it (the
// Python tests' unittest.mock), and can be told to fail modify().
class CountingPoller final : public Poller {
public:
    explicit CountingPoller(PollerCalls& calls, bool fail_modify = false)
        : inner_(make_poller(backend())), calls_(calls), fail_modify_(fail_modify) {}

    std::string_view name() const noexcept override { return inner_->name(); }
    bool edge_triggered() const noexcept override { return inner_->edge_triggered(); }
    int fileno() const noexcept override { return inner_->fileno(); }
    void remove(int fd) noexcept override {
        ++calls_.removes;
        inner_->remove(fd);
    }

protected:
    void do_add(int fd, std::uint32_t events) override {
        ++calls_.adds;
        inner_->add(fd, events);
    }
    void do_add_exclusive(int fd, std::uint32_t events) override {
        ++calls_.adds;
        ++calls_.exclusive_adds;
        inner_->add(fd, events, Wakeup::exclusive);
    }
    void do_modify(int fd, std::uint32_t events) override {
        ++calls_.modifies;
        if (fail_modify_) throw InjectedError();
        inner_->modify(fd, events);
    }
    void do_rearm(int fd, std::uint32_t events) override {
        ++calls_.rearms;
        inner_->rearm(fd, events);
    }
    int wait_once(std::span<PollEvent> out, Timeout timeout) override {
        return static_cast<int>(inner_->wait(out, timeout));
    }

private:
    std::unique_ptr<Poller> inner_;
    PollerCalls& calls_;
    bool fail_modify_;
};

}  // namespace iomux::test
