// What every backend shares: argument checks, the EINTR retry loop, timeout rounding,
// and the table that names the backends.
#include "poller/poller.hpp"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <system_error>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "poller/backends.hpp"
#include "poller/errors.hpp"

namespace iomux {
namespace {

void check(int fd, std::uint32_t events) {
    if (events == 0 || (events & ~(EVENT_READ | EVENT_WRITE)))
        throw ValueError(fmt::format("Invalid events: {}", events));
    if (fd < 0) throw ValueError(fmt::format("Invalid file descriptor: {}", fd));
}

struct Backend {
    std::string_view name;
    std::unique_ptr<Poller> (*make)();
};

// In order of preference.
constexpr Backend kBackends[] = {
    {"epoll", [] { return make_epoll_poller(false); }},
    {"epoll-et", [] { return make_epoll_poller(true); }},
#ifdef IOMUX_HAVE_IO_URING
    {"io_uring", make_io_uring_poller},
#endif
    {"poll", make_poll_poller},
    {"select", make_select_poller},
};

}  // namespace

void Poller::add(int fd, std::uint32_t events, Wakeup wakeup) {
    check(fd, events);
    if (wakeup == Wakeup::exclusive) do_add_exclusive(fd, events);
    else do_add(fd, events);
}

void Poller::modify(int fd, std::uint32_t events) {
    check(fd, events);
    do_modify(fd, events);
}

void Poller::rearm(int fd, std::uint32_t events) {
    check(fd, events);
    do_rearm(fd, events);
}

std::size_t Poller::wait(std::span<PollEvent> out, Timeout timeout) {
    static const OnInterrupt none;
    return wait(out, timeout, none);
}

std::size_t Poller::wait(std::span<PollEvent> out, Timeout timeout, const OnInterrupt& on_interrupt) {
    if (out.empty()) throw ValueError("wait() needs room for at least one event");
    using Clock = std::chrono::steady_clock;
    // A year is "forever" for any caller, and keeps deadline arithmetic from overflowing.
    timeout = std::min(timeout, Timeout(std::chrono::hours(24 * 365)));
    const bool bounded = timeout >= Timeout::zero();
    const Clock::time_point deadline = bounded ? Clock::now() + timeout : Clock::time_point::max();
    for (;;) {
        const int n = wait_once(out, bounded ? timeout : kBlock);
        if (n >= 0) return static_cast<std::size_t>(n);
        if (errno != EINTR) throw std::system_error(errno, std::generic_category(), fmt::format("{} wait", name()));
        if (on_interrupt) on_interrupt();
        // PEP 475: retry with what is left of the timeout, never the original again.
        if (bounded) timeout = std::max(Timeout::zero(), std::chrono::duration_cast<Timeout>(deadline - Clock::now()));
    }
}

int Poller::timeout_ms(Timeout timeout) noexcept {
    if (timeout < Timeout::zero()) return -1;
    // Round up: a 0.5 ms wait truncated to 0 would make the caller spin until its deadline.
    const auto ms = (timeout.count() + 999'999) / 1'000'000;
    return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

std::unique_ptr<Poller> make_poller(std::string_view name) {
    for (const Backend& b : kBackends)
        if (b.name == name) return b.make();
    throw ValueError(fmt::format("unknown backend '{}' (this build has: {})", name, fmt::join(backend_names(), ", ")));
}

std::vector<std::string> backend_names() {
    std::vector<std::string> names;
    for (const Backend& b : kBackends) names.emplace_back(b.name);
    return names;
}

std::vector<std::string> available_backends() {
    std::vector<std::string> names;
    for (const Backend& b : kBackends) {
        try {
            b.make();
        } catch (const std::system_error&) {
            continue;
        }
        names.emplace_back(b.name);
    }
    return names;
}

std::string default_backend() {
    const char* env = std::getenv("IOMUX_BACKEND");
    if (env == nullptr || *env == '\0') return std::string(kBackends[0].name);
    for (const Backend& b : kBackends)
        if (b.name == env) return std::string(b.name);
    throw ValueError(fmt::format("IOMUX_BACKEND='{}' names no backend (this build has: {})", env, fmt::join(backend_names(), ", ")));
}

}  // namespace iomux
