// ReactorThreads: one Reactor per thread. meson runs this program once per backend
// (IOMUX_BACKEND), and CI once more under TSan: every case here crosses threads.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <future>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "poller/errors.hpp"
#include "reactor/reactor_threads.hpp"
#include "reactor/server.hpp"
#include "reactor/transport.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using iomux::Reactor;
using iomux::ReactorThreads;
using iomux::UniqueFd;
using iomux::test::backend;

namespace {

// Waits for a result a loop thread promised; a loop that never runs the hand-off fails the
// test instead of hanging it.
template <class T>
T await(std::future<T>& f) {
    REQUIRE(f.wait_for(10s) == std::future_status::ready);
    return f.get();
}

// Runs f on loop i and returns what it returned.
template <class F>
auto run_on(ReactorThreads& loops, std::size_t i, F f) {
    auto task = std::make_shared<std::packaged_task<decltype(f())()>>(std::move(f));
    auto result = task->get_future();
    loops.call_soon_threadsafe(i, [task] { (*task)(); });
    return await(result);
}

[[noreturn]] void fail(const char* what) { throw std::system_error(errno, std::generic_category(), what); }

UniqueFd tcp_socket(int flags = 0) {
    UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | flags, 0));
    if (!s) fail("socket");
    return s;
}

sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return addr;
}

// A blocking read of exactly n bytes, bounded by a poll timeout.
std::string read_exact(int fd, std::size_t n) {
    std::string got;
    char buf[256];
    while (got.size() < n) {
        pollfd pfd{fd, POLLIN, 0};
        REQUIRE(::poll(&pfd, 1, 10000) == 1);
        const ssize_t r = ::read(fd, buf, std::min(sizeof buf, n - got.size()));
        REQUIRE(r > 0);
        got.append(buf, static_cast<std::size_t>(r));
    }
    return got;
}

// Reports what stderr received while it was alive.
class StderrCapture {
public:
    StderrCapture() {
        int p[2];
        REQUIRE(::pipe(p) == 0);
        read_end_.reset(p[0]);
        std::fflush(stderr);
        saved_.reset(::dup(STDERR_FILENO));
        ::dup2(p[1], STDERR_FILENO);
        ::close(p[1]);
    }
    ~StderrCapture() { restore(); }
    std::string text() {
        restore();
        std::string out;
        char buf[512];
        ssize_t n;
        while ((n = ::read(read_end_.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
        return out;
    }

private:
    void restore() {
        if (!saved_) return;
        std::fflush(stderr);
        ::dup2(saved_.get(), STDERR_FILENO);
        saved_.reset();
    }
    UniqueFd read_end_, saved_;
};

}  // namespace

TEST_CASE("each loop runs on a thread of its own, on the backend asked for") {
    ReactorThreads loops(3, backend());
    REQUIRE(loops.size() == 3);
    std::set<std::thread::id> ids;
    for (std::size_t i = 0; i < loops.size(); ++i) {
        const auto [id, name] = run_on(loops, i, [&loops, i] {
            return std::pair(std::this_thread::get_id(), std::string(loops.loop(i).backend()));
        });
        CHECK(name == backend());
        CHECK(id != std::this_thread::get_id());
        ids.insert(id);
    }
    CHECK(ids.size() == 3);
    CHECK_THROWS_AS(loops.loop(3), std::out_of_range);
}

TEST_CASE("hand-offs from many threads run on their loop, each producer's in order") {
    constexpr int kProducers = 4, kPerProducer = 5000;
    ReactorThreads loops(2, backend());
    // Touched only by the loop it belongs to; read here after join().
    struct Seen {
        std::array<int, kProducers> last{-1, -1, -1, -1};
        int count = 0, out_of_order = 0;
        std::thread::id wrong_thread{};
    };
    std::array<Seen, 2> seen;
    std::array<std::thread::id, 2> loop_ids;
    for (std::size_t i = 0; i < 2; ++i) loop_ids[i] = run_on(loops, i, [] { return std::this_thread::get_id(); });

    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
        producers.emplace_back([&, p] {
            const std::size_t target = static_cast<std::size_t>(p) % 2;
            for (int k = 0; k < kPerProducer; ++k) {
                loops.call_soon_threadsafe(target, [&seen, &loop_ids, target, p, k] {
                    Seen& s = seen[target];
                    if (k <= s.last[p]) ++s.out_of_order;
                    if (std::this_thread::get_id() != loop_ids[target]) s.wrong_thread = std::this_thread::get_id();
                    s.last[p] = k;
                    ++s.count;
                });
            }
        });
    }
    for (std::thread& t : producers) t.join();
    // A hand-off made after all others runs after them: its answer covers every one.
    for (std::size_t i = 0; i < 2; ++i) CHECK(run_on(loops, i, [&seen, i] { return seen[i].count; }) == 2 * kPerProducer);
    loops.stop();
    loops.join();
    for (const Seen& s : seen) {
        CHECK(s.out_of_order == 0);
        CHECK(s.wrong_thread == std::thread::id{});
    }
}

TEST_CASE("one loop accepts and hands each connection to the next of two others, which serve it") {
    // muduo's layout: an accepting loop and IO loops, connections dealt out round robin.
    constexpr std::size_t kAcceptLoop = 0, kIoLoops = 2;
    constexpr int kClients = 10;
    UniqueFd listener = tcp_socket(SOCK_NONBLOCK);
    sockaddr_in addr = loopback(0);
    REQUIRE(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener.get(), 64) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);

    ReactorThreads loops(1 + kIoLoops, backend());
    // IO loop k's connections, touched only on its thread until join().
    std::array<std::vector<UniqueFd>, 1 + kIoLoops> served;
    std::array<int, 1 + kIoLoops> wrong_thread{};
    std::size_t next = 0;  // the accepting loop's
    loops.call_soon_threadsafe(kAcceptLoop, [&] {
        loops.loop(kAcceptLoop).add_reader(listener.get(), [&] {
            // To EAGAIN: epoll-et reports two connections that came together once.
            while (UniqueFd conn{::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)}) {
                const std::size_t io = 1 + next++ % kIoLoops;
                // The fd moves to the IO loop's thread; from now only that thread touches it.
                loops.call_soon_threadsafe(io, [&, io, fd = conn.release()] {
                    const std::thread::id me = std::this_thread::get_id();
                    served[io].emplace_back(fd);
                    loops.loop(io).add_reader(fd, [&, io, fd, me] {
                        if (std::this_thread::get_id() != me) ++wrong_thread[io];
                        char buf[64];
                        const ssize_t n = ::read(fd, buf, sizeof buf);
                        if (n > 0) {
                            const std::string reply = fmt::format("{}:{}", io, std::string_view(buf, static_cast<std::size_t>(n)));
                            [[maybe_unused]] auto w = ::write(fd, reply.data(), reply.size());
                        } else {
                            loops.loop(io).remove_reader(fd);
                        }
                    });
                });
            }
        });
    });

    std::array<int, 1 + kIoLoops> replies_from{};
    for (int c = 0; c < kClients; ++c) {
        UniqueFd client = tcp_socket();
        sockaddr_in to = loopback(ntohs(addr.sin_port));
        REQUIRE(::connect(client.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
        const std::string msg = fmt::format("m{}", c);
        REQUIRE(::write(client.get(), msg.data(), msg.size()) == static_cast<ssize_t>(msg.size()));
        const std::string reply = read_exact(client.get(), msg.size() + 2);
        CHECK(reply.substr(2) == msg);
        ++replies_from[static_cast<std::size_t>(reply[0] - '0')];
    }
    // Clean up on the owning threads: callbacks off before the fds close.
    run_on(loops, kAcceptLoop, [&] { return loops.loop(kAcceptLoop).remove_reader(listener.get()); });
    for (std::size_t io = 1; io <= kIoLoops; ++io)
        run_on(loops, io, [&, io] {
            for (UniqueFd& fd : served[io]) loops.loop(io).remove_reader(fd.get());
            served[io].clear();
            return true;
        });
    loops.stop();
    loops.join();
    CHECK(replies_from[kAcceptLoop] == 0);
    CHECK(replies_from[1] == kClients / 2);
    CHECK(replies_from[2] == kClients / 2);
    CHECK(wrong_thread == std::array<int, 1 + kIoLoops>{});
}

TEST_CASE("one server across two loops: each loop's Server serves the connections its listener gets") {
    struct Echo : iomux::Protocol {
        iomux::Transport* t = nullptr;
        void connection_made(iomux::Transport& tr) override { t = &tr; }
        void data_received(std::string_view data) override { t->write(data); }
    };
    for (const bool shared : {false, true}) {
        CAPTURE(shared);
        ReactorThreads loops(2, backend());
        auto listeners = iomux::listen_tcp_for_loops("127.0.0.1", 0, 2, shared);
        const std::uint16_t port = iomux::local_address(listeners[0].get()).port;
        iomux::ServerOptions options;
        options.wakeup = shared ? iomux::Wakeup::exclusive : iomux::Wakeup::all;
        // Built and destroyed on their loops' threads: a Reactor is single-threaded.
        std::array<std::unique_ptr<iomux::Server>, 2> servers;
        for (std::size_t i = 0; i < 2; ++i) {
            run_on(loops, i, [&, i] {
                servers[i] = std::make_unique<iomux::Server>(
                    loops.loop(i), [] { return std::make_unique<Echo>(); }, std::move(listeners[i]), options);
                return 0;
            });
        }
        constexpr int kClients = 40;
        for (int c = 0; c < kClients; ++c) {
            UniqueFd s = tcp_socket();
            const sockaddr_in addr = loopback(port);
            REQUIRE(::connect(s.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
            const std::string msg = fmt::format("client {}", c);
            REQUIRE(::write(s.get(), msg.data(), msg.size()) == static_cast<ssize_t>(msg.size()));
            CHECK(read_exact(s.get(), msg.size()) == msg);
        }
        std::uint64_t accepted = 0;
        for (std::size_t i = 0; i < 2; ++i) {
            accepted += run_on(loops, i, [&, i] {
                const auto n = servers[i]->stats().accepted;
                servers[i].reset();
                return n;
            });
        }
        CHECK(accepted == kClients);
        loops.stop();
        loops.join();
    }
}

TEST_CASE("stop ends loops blocked with nothing to do, and loops not yet running") {
    std::atomic<int> returned{0};
    SUBCASE("explicit stop and join") {
        ReactorThreads loops(2, backend(), [&](std::size_t i, Reactor& loop) {
            if (i == 1) std::this_thread::sleep_for(50ms);  // still starting when stop() comes
            loop.run();
            ++returned;
        });
        loops.stop();
        loops.join();
        CHECK(returned == 2);
        loops.join();  // a second join has nothing left to wait for
    }
    SUBCASE("the destructor stops and joins") {
        {
            ReactorThreads loops(2, backend(), [&](std::size_t, Reactor& loop) {
                loop.run();
                ++returned;
            });
            std::this_thread::sleep_for(20ms);  // let both block in their wait
        }
        CHECK(returned == 2);
    }
}

TEST_CASE("an exception leaving a loop's body stops the other loops and join() rethrows it") {
    std::atomic<int> ran{0};
    ReactorThreads loops(3, backend(), [&](std::size_t i, Reactor& loop) {
        if (i == 1) throw std::runtime_error("loop 1 failed to set up");
        loop.run();  // ends only because the failure stops it
        ++ran;
    });
    CHECK_THROWS_WITH_AS(loops.join(), "loop 1 failed to set up", std::runtime_error);
    CHECK(ran == 2);
    CHECK_NOTHROW(loops.join());  // rethrown once
}

TEST_CASE("the destructor reports a failure that join() never rethrew") {
    StderrCapture captured;
    {
        ReactorThreads loops(2, backend(), [](std::size_t i, Reactor& loop) {
            if (i == 0) throw std::runtime_error("nobody joined me");
            loop.run();
        });
    }
    const std::string text = captured.text();
    CHECK(text.find("loop thread 0") != std::string::npos);
    CHECK(text.find("nobody joined me") != std::string::npos);
}

TEST_CASE("an unknown backend is refused by the constructor, with no thread left behind") {
    CHECK_THROWS_AS(ReactorThreads(2, "no-such-backend"), iomux::ValueError);
}

TEST_CASE("zero threads: nothing to run, nothing to join") {
    ReactorThreads loops(0, backend());
    CHECK(loops.size() == 0);
    CHECK_NOTHROW(loops.join());
}
