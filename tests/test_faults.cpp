// Fault injection, on the backend under test (IOMUX_BACKEND; meson runs this program once per
// backend): a storm of signals during waits, 11000 peers vanishing at once, fds closed while
// registered. Each case checks that nothing is lost and nothing spins.
//
// Covered elsewhere, not repeated here: EMFILE on accept, peers resetting mid-write (EPIPE /
// ECONNRESET, no SIGPIPE death) and half-close, on the real servers (tests/examples/
// test_echo_server.cpp); a throwing fd, timer or call_soon callback (tests/test_reactor.cpp);
// an fd closed, removed and then reused, and a closed fd left registered without reuse
// (tests/test_poller.cpp).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/process_stats.hpp"
#include "poller/poller.hpp"
#include "poller/unique_fd.hpp"
#include "reactor/reactor.hpp"
#include "tests/support.hpp"
#include "tests/test_helpers.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using iomux::EVENT_READ;
using iomux::EVENT_WRITE;
using iomux::PollEvent;
using iomux::Poller;
using iomux::Reactor;
using iomux::UniqueFd;
using iomux::test::ms_since;
using iomux::test::send_all;
using iomux::test::socket_pair;
using iomux::test::SocketPair;
using ReadySet = std::map<int, std::uint32_t>;

ReadySet wait_set(Poller& p, iomux::Timeout timeout) {
    std::array<PollEvent, 16> out{};
    const std::size_t n = p.wait(out, timeout);
    ReadySet ready;
    for (std::size_t i = 0; i < n; ++i) ready[out[i].fd] = out[i].events;
    return ready;
}

// A thread that sends SIGUSR1 to one thread again and again (pthread_kill), a few every
// 20 us, until destroyed or max_signals are sent. Without a handler SIGUSR1 would kill
// the process: install one first (CountingSignal or the Reactor's).
class SignalStorm {
public:
    explicit SignalStorm(pthread_t target, int max_signals = 50000)
        : thread_([this, target, max_signals] {
              while (!stop_.load() && sent_.load() < max_signals) {
                  if (::pthread_kill(target, SIGUSR1) == 0) sent_.fetch_add(1);
                  std::this_thread::sleep_for(20us);
              }
          }) {}
    ~SignalStorm() {
        stop_.store(true);
        thread_.join();
    }
    SignalStorm(const SignalStorm&) = delete;
    SignalStorm& operator=(const SignalStorm&) = delete;
    int sent() const noexcept { return sent_.load(); }

private:
    std::atomic<bool> stop_{false};
    std::atomic<int> sent_{0};
    std::thread thread_;
};

// A SIGUSR1 handler that only counts, without SA_RESTART: every signal that lands in a wait
// is an EINTR for the Poller to retry. Restores the old disposition on scope exit.
class CountingSignal {
public:
    CountingSignal() {
        count_ = 0;
        struct sigaction sa {};
        sa.sa_handler = [](int) { count_.fetch_add(1); };
        sigemptyset(&sa.sa_mask);
        REQUIRE(::sigaction(SIGUSR1, &sa, &old_) == 0);
    }
    ~CountingSignal() { ::sigaction(SIGUSR1, &old_, nullptr); }
    CountingSignal(const CountingSignal&) = delete;
    CountingSignal& operator=(const CountingSignal&) = delete;
    static int count() noexcept { return count_.load(); }

private:
    static inline std::atomic<int> count_{0};
    struct sigaction old_ {};
};

// A forked child, killed (by its pid) and reaped on scope exit if it is still running.
class Child {
public:
    template <class F>
    explicit Child(F body) : pid_(::fork()) {
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) ::_exit(body());
    }
    ~Child() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    // Waits for the exit; its status, or -1 when it did not exit normally.
    int wait() {
        int status = 0;
        const pid_t pid = std::exchange(pid_, -1);
        if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
        return WEXITSTATUS(status);
    }

private:
    pid_t pid_;
};

UniqueFd listen_loopback(std::uint16_t& port) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(fd);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd.get(), 4096) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port = ntohs(addr.sin_port);
    return fd;
}

}  // namespace

TEST_SUITE("faults") {

TEST_CASE("a storm of signals during waits: timeouts hold, and a write during the storm is seen") {
    SocketPair sp = socket_pair();
    auto p = iomux::make_poller(iomux::test::backend());
    p->add(sp.a.get(), EVENT_READ);
    CountingSignal counting;
    SignalStorm storm(::pthread_self());

    // Each EINTR must resume with what is left: neither cut short nor restarted in full.
    const int before = CountingSignal::count();
    auto t0 = Clock::now();
    CHECK(wait_set(*p, 300ms).empty());
    double ms = ms_since(t0);
    const int during = CountingSignal::count() - before;
    MESSAGE(fmt::format("wait(300 ms) took {:.1f} ms through {} signals", ms, during));
    CHECK(during >= 20);
    CHECK(ms >= 299.0);
    CHECK(ms < 1500.0);

    // A blocking wait, still under fire, returns for a write made 100 ms in, and only then.
    std::thread writer([fd = sp.b.get()] {
        std::this_thread::sleep_for(100ms);
        ::send(fd, "x", 1, MSG_NOSIGNAL);
    });
    t0 = Clock::now();
    const ReadySet got = wait_set(*p, iomux::kBlock);
    ms = ms_since(t0);
    writer.join();
    CHECK(got == ReadySet{{sp.a.get(), EVENT_READ}});
    CHECK(ms >= 90.0);
    MESSAGE(fmt::format("{} signals sent in all, {} handled", storm.sent(), CountingSignal::count()));
}

TEST_CASE("a storm of signals at a Reactor: timers on time, data seen, a throwing signal handler reported, no spin") {
    Reactor loop;
    SocketPair sp = socket_pair();
    int handled = 0, reported = 0, other_errors = 0;
    loop.add_signal_handler(SIGUSR1, [&] {
        ++handled;
        throw std::runtime_error("signal handler throws");
    });
    loop.set_exception_handler([&](int fd, std::exception_ptr) { ++(fd == -SIGUSR1 ? reported : other_errors); });
    std::string got;
    loop.add_reader(sp.a.get(), [&] {
        char buf[16];
        const ssize_t n = ::read(sp.a.get(), buf, sizeof buf);
        if (n > 0) got.append(buf, static_cast<std::size_t>(n));
    });
    const auto start = Reactor::Clock::now();
    std::vector<double> late_ms;
    for (const auto delay : {50ms, 100ms, 150ms, 200ms}) {
        loop.call_later(delay, [&, due = start + delay] {
            late_ms.push_back(std::chrono::duration<double, std::milli>(Reactor::Clock::now() - due).count());
        });
    }
    loop.call_later(250ms, [&] { loop.stop(); });
    std::thread writer([fd = sp.b.get()] {
        std::this_thread::sleep_for(120ms);
        ::send(fd, "during", 6, MSG_NOSIGNAL);
    });
    const auto iterations_before = loop.stats().iterations;
    {
        SignalStorm storm(::pthread_self());
        loop.run();
    }
    writer.join();
    loop.run_once(0ms);  // the signals that arrived as the storm ended
    const auto iterations = loop.stats().iterations - iterations_before;
    MESSAGE(fmt::format("{} iterations, {} signal callbacks, timers late by {} ms", iterations, handled,
                        fmt::join(late_ms, ", ")));
    REQUIRE(late_ms.size() == 4);
    for (const double late : late_ms) {
        CHECK(late >= 0.0);
        CHECK(late < 100.0);
    }
    CHECK(got == "during");
    CHECK(handled >= 20);
    CHECK(reported == handled);
    CHECK(other_errors == 0);
    // Every iteration had something to do: signal bytes (one callback each), a timer, the
    // data, the stop. A loop that spun would run far more iterations than that.
    CHECK(iterations <= static_cast<std::uint64_t>(handled) + 10);
    CHECK(loop.remove_signal_handler(SIGUSR1));
}

TEST_CASE("11000 peers vanishing at once: one EOF callback each, all closed and unregistered, then the loop idles") {
    constexpr int kPeers = 11000;
    iomux::test::FdLimitGuard limit_guard;
    REQUIRE(iomux::test::raise_fd_limit() >= kPeers + 200);
    std::uint16_t port = 0;
    const UniqueFd listener = listen_loopback(port);
    int to_child[2], from_child[2];
    REQUIRE(::pipe2(to_child, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(from_child, O_CLOEXEC) == 0);
    const UniqueFd go_read(to_child[0]), go_write(to_child[1]), ready_read(from_child[0]), ready_write(from_child[1]);

    // The peers live in a child: 11000 connections take 22000 fds, more than one process may
    // hold here. Its exit closes them all at once.
    Child child([&] {
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(port);
        for (int i = 0; i < kPeers; ++i) {
            const int fd = ::socket(AF_INET, SOCK_STREAM, 0);  // held until _exit, on purpose
            if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return 2;
        }
        char c = 'r';
        if (::write(ready_write.get(), &c, 1) != 1) return 3;
        return ::read(go_read.get(), &c, 1) == 1 ? 0 : 4;
    });

    iomux::test::PollerCalls calls;
    Reactor loop(std::make_unique<iomux::test::CountingPoller>(calls));
    std::vector<UniqueFd> conns;
    conns.reserve(kPeers);
    std::vector<int> callbacks(kPeers, 0);
    int eofs = 0, unexpected = 0;
    for (int i = 0; i < kPeers; ++i) {
        pollfd pf{listener.get(), POLLIN, 0};
        REQUIRE(::poll(&pf, 1, 10000) == 1);  // bounded: a dead child fails the test, not hangs it
        conns.emplace_back(::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        REQUIRE(conns.back());
        loop.add_reader(conns.back().get(), [&, i] {
            ++callbacks[i];
            char c;
            const ssize_t n = ::read(conns[i].get(), &c, 1);
            if (n != 0) {
                ++unexpected;  // data, an error or EAGAIN: none is due
                return;
            }
            ++eofs;
            loop.remove_reader(conns[i].get());
            conns[i].reset();
        });
    }
    char c;
    REQUIRE(::read(ready_read.get(), &c, 1) == 1);
    loop.run_once(0ms);
    const std::size_t fds_while_connected = iomux::tools::open_fds(::getpid());

    const auto cpu0 = iomux::tools::self_cpu();
    const auto iterations0 = loop.stats().iterations;
    const auto t0 = Clock::now();
    REQUIRE(::write(go_write.get(), "g", 1) == 1);
    CHECK(child.wait() == 0);
    while (eofs < kPeers && unexpected == 0 && Clock::now() - t0 < 30s) loop.run_once(100ms);
    const double wall_ms = ms_since(t0);
    const double cpu_s = (iomux::tools::self_cpu() - cpu0).total();
    const auto iterations = loop.stats().iterations - iterations0;
    MESSAGE(fmt::format("{} EOFs in {:.0f} ms, {:.3f} s CPU, {} iterations", eofs, wall_ms, cpu_s, iterations));

    CHECK(eofs == kPeers);
    CHECK(unexpected == 0);
    CHECK(std::count(callbacks.begin(), callbacks.end(), 1) == kPeers);
    CHECK(std::count_if(conns.begin(), conns.end(), [](const UniqueFd& fd) { return bool(fd); }) == 0);
    CHECK(iomux::tools::open_fds(::getpid()) == fds_while_connected - kPeers);
    CHECK(iterations <= 200);
    CHECK(cpu_s < 5.0);

    // Nothing left to report: the next iteration hands the removals to the backend, waits
    // out its timeout and runs nothing; registered then is only the reactor's wake-up fd.
    const auto callbacks_before = loop.stats().callbacks;
    const auto t1 = Clock::now();
    loop.run_once(100ms);
    CHECK(ms_since(t1) >= 99.0);
    CHECK(loop.stats().callbacks == callbacks_before);
    CHECK(calls.adds - calls.removes == 1);
}

TEST_CASE("an fd closed while registered and its number reused before remove(): no event for the new fd it did not earn") {
    const std::string name = iomux::test::backend();
    auto p = iomux::make_poller(name);
    SocketPair bystander = socket_pair();
    p->add(bystander.a.get(), EVENT_WRITE);
    SocketPair old_pair = socket_pair();
    const int number = old_pair.a.get();
    p->add(number, EVENT_READ);
    CHECK(wait_set(*p, 0ns) == ReadySet{{bystander.a.get(), EVENT_WRITE}});  // everything armed

    SocketPair new_pair = socket_pair();
    old_pair.a.reset();  // closed while registered: against the contract, but it happens
    REQUIRE(::dup2(new_pair.a.get(), number) == number);
    new_pair.a.reset();
    UniqueFd reused(number);
    send_all(new_pair.b.get(), "x");  // the new file is readable
    const auto number_in = [&](iomux::Timeout timeout) {
        const ReadySet ready = wait_set(*p, timeout);
        const auto it = ready.find(number);
        return it == ready.end() ? 0u : it->second;
    };

    // Before remove(): backends that watch numbers (poll, select) see the file the number
    // names now, through the old registration, as documented ("remove before close"). The
    // others watch the old file: epoll dropped it with the close; io_uring holds it open,
    // with nothing to read.
    CHECK(number_in(0ns) == (name == "poll" || name == "select" ? EVENT_READ : 0u));

    // The late remove() drops the old registration and never touches the new file: nothing
    // is reported for it until it is registered, then exactly its own event.
    p->remove(number);
    CHECK(number_in(0ns) == 0u);
    CHECK(number_in(50ms) == 0u);
    p->add(number, EVENT_READ);
    CHECK(number_in(0ns) == EVENT_READ);
    char c = 0;
    CHECK(::read(number, &c, 1) == 1);
    CHECK(c == 'x');
    p->remove(number);
    p->remove(bystander.a.get());
}

TEST_CASE("remove() then close() closes the file at once: the peer sees the hang-up") {
    // A backend that holds a reference to the file (io_uring's poll request) must have let
    // go of it when remove() returns, whatever was queued before.
    auto p = iomux::make_poller(iomux::test::backend());
    SocketPair sp = socket_pair();
    p->add(sp.a.get(), EVENT_READ);
    SUBCASE("right after add") {}
    SUBCASE("after a wait") { wait_set(*p, 0ns); }
    SUBCASE("after a wait and a modify") {
        wait_set(*p, 0ns);
        p->modify(sp.a.get(), EVENT_READ | EVENT_WRITE);
    }
    p->remove(sp.a.get());
    sp.a.reset();
    pollfd pf{sp.b.get(), POLLIN, 0};
    ::poll(&pf, 1, 0);
    CHECK((pf.revents & POLLHUP) != 0);
    char c;
    CHECK(::read(sp.b.get(), &c, 1) == 0);
}

}  // TEST_SUITE
