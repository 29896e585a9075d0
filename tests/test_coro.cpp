// The coroutine front (task.hpp, awaitables.hpp, stream.hpp) on the backend under test
// (IOMUX_BACKEND: meson runs this program once per backend). Loopback only; every wait is
// bounded by a deadline of loop iterations.
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "poller/unique_fd.hpp"
#include "reactor/awaitables.hpp"
#include "reactor/reactor.hpp"
#include "reactor/server.hpp"
#include "reactor/stream.hpp"
#include "reactor/task.hpp"
#include "support.hpp"

// Counts every allocation in this test program, as test_reactor.cpp does, to show that
// awaits allocate nothing once warm.
namespace {
std::atomic<long> g_allocations{0};
}
void* operator new(std::size_t n) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using iomux::Acceptor;
using iomux::Reactor;
using iomux::Stream;
using iomux::Task;
using iomux::TaskHandle;

constexpr auto kDeadline = 10s;

template <class Pred>
bool run_until(Reactor& loop, Pred&& pred, std::chrono::milliseconds limit = kDeadline) {
    const auto deadline = Clock::now() + limit;
    while (!pred() && Clock::now() < deadline) loop.run_once(10ms);
    return pred();
}

void run_idle(Reactor& loop, int iterations = 10) {
    for (int i = 0; i < iterations; ++i) loop.run_once(5ms);
}

// Runs body, records how it ended: 0, an errno, or -1 for another exception.
struct Outcome {
    bool done = false;
    int error = 0;
    std::string what;
};
Task<> record(Task<> body, Outcome& out) {
    try {
        co_await std::move(body);
    } catch (const std::system_error& e) {
        out.error = e.code().value();
        out.what = e.what();
    } catch (const std::exception& e) {
        out.error = -1;
        out.what = e.what();
    }
    out.done = true;
}

std::string pattern(std::size_t n, std::uint32_t seed = 1) {
    std::string s(n, '\0');
    std::uint32_t x = seed * 2654435761u + 1;
    for (char& c : s) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        c = static_cast<char>(x);
    }
    return s;
}

// Counts live instances: a local in a frame shows whether the frame was destroyed.
struct Alive {
    explicit Alive(int& n) : n(n) { ++n; }
    ~Alive() { --n; }
    Alive(const Alive&) = delete;
    int& n;
};

std::uint16_t port_of(Acceptor& a) {
    return a.server().sockname().port;
}

}  // namespace

// ---- Task

TEST_CASE("a Task is lazy, returns its value, and is awaited once") {
    Reactor loop;
    int started = 0;
    auto child = [](int& started) -> Task<int> {
        ++started;
        co_return 42;
    };
    Outcome out;
    int got = 0;
    auto parent = [](decltype(child) child, int& started, int& got) -> Task<> {
        Task<int> t = child(started);
        CHECK(started == 0);  // not yet awaited: not started
        got = co_await std::move(t);
        CHECK(t.done());
        co_await std::move(t);  // a second time: std::logic_error
    };
    iomux::spawn(loop, record(parent(child, started, got), out));
    CHECK(started == 0);  // spawn starts it in the next iteration
    REQUIRE(run_until(loop, [&] { return out.done; }));
    CHECK(started == 1);
    CHECK(got == 42);
    CHECK(out.error == -1);
    CHECK(out.what.find("awaited twice") != std::string::npos);
}

namespace {
Task<long> depth(long n) {
    if (n == 0) co_return 0;
    co_return 1 + co_await depth(n - 1);
}
Task<int> one() { co_return 1; }
}  // namespace

// Symmetric transfer is a tail call that the compiler makes; gcc does not under ASan at -O0
// (its instrumented frames cannot be reused), so there the counts are small enough for the
// stack, and only the results are checked.
#if defined(__SANITIZE_ADDRESS__)
constexpr long kAwaits = 1'000, kDepth = 1'000;
#else
constexpr long kAwaits = 1'000'000, kDepth = 100'000;
#endif

TEST_CASE("symmetric transfer: a million awaits in a loop and a 100000-deep chain do not grow the stack") {
    Reactor loop;
    long sum = 0, deep = 0;
    Outcome out;
    auto body = [](long& sum, long& deep) -> Task<> {
        for (long i = 0; i < kAwaits; ++i) sum += co_await one();
        deep = co_await depth(kDepth);
    };
    iomux::spawn(loop, record(body(sum, deep), out));
    REQUIRE(run_until(loop, [&] { return out.done; }));
    CHECK(out.error == 0);
    CHECK(sum == kAwaits);
    CHECK(deep == kDepth);
}

TEST_CASE("exceptions cross co_await; one escaping a spawned task reaches the loop's exception handler") {
    Reactor loop;
    int handled_fd = 0;
    std::string handled;
    loop.set_exception_handler([&](int fd, std::exception_ptr e) {
        handled_fd = fd;
        handled = iomux::describe_exception(e);
    });
    auto thrower = []() -> Task<int> {
        co_await iomux::sleep(1ms);
        throw std::runtime_error("from the child");
    };
    std::string caught;
    auto catcher = [](decltype(thrower) thrower, std::string& caught) -> Task<> {
        try {
            co_await thrower();
        } catch (const std::runtime_error& e) {
            caught = e.what();
        }
        co_await thrower();  // escapes
    };
    TaskHandle h = iomux::spawn(loop, catcher(thrower, caught));
    REQUIRE(run_until(loop, [&] { return !handled.empty(); }));
    CHECK(caught == "from the child");
    CHECK(handled == "from the child");
    CHECK(handled_fd == -1);
    CHECK(h.done());
    CHECK(loop.owned().size() == 0);  // the frame is gone
}

// ---- sleep, readable, writable

TEST_CASE("sleep resumes no earlier than asked, in deadline order") {
    Reactor loop;
    std::vector<int> order;
    auto sleeper = [](std::vector<int>& order, int ms) -> Task<> {
        const auto t0 = Clock::now();
        co_await iomux::sleep(std::chrono::milliseconds(ms));
        CHECK(Clock::now() - t0 >= std::chrono::milliseconds(ms));
        order.push_back(ms);
    };
    for (int ms : {30, 10, 20}) iomux::spawn(loop, sleeper(order, ms));
    REQUIRE(run_until(loop, [&] { return order.size() == 3; }));
    CHECK(order == std::vector<int>{10, 20, 30});
}

TEST_CASE("readable and writable: resume on readiness, level-triggered on every backend, epoll-et included") {
    Reactor loop;
    auto p = iomux::test::socket_pair();
    std::string got;
    Outcome out;
    // Reads one byte per readable(): on epoll-et the rest must still wake the next await.
    auto reader = [](int fd, std::string& got) -> Task<> {
        while (got.size() < 5) {
            co_await iomux::readable(fd);
            char c;
            if (::read(fd, &c, 1) == 1) got += c;
        }
    };
    iomux::spawn(loop, record(reader(p.a.get(), got), out));
    run_idle(loop, 3);
    CHECK(got.empty());
    REQUIRE(::write(p.b.get(), "hello", 5) == 5);
    REQUIRE(run_until(loop, [&] { return out.done; }, 3s));
    CHECK(got == "hello");
    CHECK(out.error == 0);

    // writable: fill the socket, await, drain from the other side.
    std::size_t filled = 0;
    char block[4096] = {};
    while (::send(p.a.get(), block, sizeof block, MSG_DONTWAIT) > 0) filled += sizeof block;
    bool resumed = false;
    auto writer = [](int fd, bool& resumed) -> Task<> {
        co_await iomux::writable(fd);
        resumed = true;
    };
    iomux::spawn(loop, writer(p.a.get(), resumed));
    run_idle(loop, 5);
    CHECK(!resumed);
    while (::read(p.b.get(), block, sizeof block) > 0) {
    }
    REQUIRE(run_until(loop, [&] { return resumed; }, 3s));
    CHECK(filled > 0);
}

// ---- with_timeout and cancellation

TEST_CASE("with_timeout: timed_out when the awaitable is late, its value when in time, nested ones each their own") {
    Reactor loop;
    Outcome late, early, nested;
    int value = 0;
    auto late_body = []() -> Task<> { co_await iomux::with_timeout(20ms, iomux::sleep(10s)); };
    auto early_body = [](int& value) -> Task<> {
        auto answer = []() -> Task<int> {
            co_await iomux::sleep(1ms);
            co_return 7;
        };
        value = co_await iomux::with_timeout(5s, answer());
        // The deadline of a finished with_timeout cancels nothing later.
        co_await iomux::sleep(30ms);
    };
    auto nested_body = []() -> Task<> {
        try {
            co_await iomux::with_timeout(5s, iomux::with_timeout(20ms, iomux::sleep(10s)));
        } catch (const std::system_error& e) {
            CHECK(e.code() == std::errc::timed_out);  // the inner one's
        }
        co_await iomux::with_timeout(20ms, iomux::with_timeout(5s, iomux::sleep(10s)));  // the outer's
    };
    const auto t0 = Clock::now();
    iomux::spawn(loop, record(late_body(), late));
    iomux::spawn(loop, record(early_body(value), early));
    iomux::spawn(loop, record(nested_body(), nested));
    REQUIRE(run_until(loop, [&] { return late.done && early.done && nested.done; }, 5s));
    CHECK(Clock::now() - t0 < 2s);
    CHECK(late.error == ETIMEDOUT);
    CHECK(early.error == 0);
    CHECK(value == 7);
    CHECK(nested.error == ETIMEDOUT);
}

namespace {
// A pair of connected streams in one loop, made with Acceptor and connect().
struct StreamPair {
    Stream server, client;
};
Task<> make_pair_task(Acceptor& acceptor, StreamPair& pair, bool& ready) {
    auto accept = [](Acceptor& a, Stream& into) -> Task<> { into = co_await a.accept(); };
    Task<> accepting = accept(acceptor, pair.server);
    iomux::spawn(acceptor.loop(), std::move(accepting));
    pair.client = co_await iomux::connect("127.0.0.1", port_of(acceptor));
    ready = true;
}
void connect_pair(Reactor& loop, Acceptor& acceptor, StreamPair& pair) {
    bool ready = false;
    iomux::spawn(loop, make_pair_task(acceptor, pair, ready));
    REQUIRE(run_until(loop, [&] { return ready && pair.server.is_open(); }));
}
}  // namespace

TEST_CASE("cancel() resumes the task from every kind of await with operation_canceled, and unhooks the await") {
    Reactor loop;
    Acceptor acceptor(loop, "127.0.0.1", 0);
    StreamPair pair;
    connect_pair(loop, acceptor, pair);
    auto p = iomux::test::socket_pair();
    // Fill p.a, so that writable(p.a) waits.
    char block[4096] = {};
    while (::send(p.a.get(), block, sizeof block, MSG_DONTWAIT) > 0) {
    }
    pair.client.transport()->set_write_buffer_limits(1024);
    const std::string big = pattern(4 << 20);  // more than the kernel buffers: write() waits
    Acceptor idle_acceptor(loop, "127.0.0.1", 0);
    Reactor other;  // never run: run_in_loop waits

    struct Case {
        const char* name;
        std::function<Task<>()> make;
    };
    auto child_sleep = []() -> Task<> { co_await iomux::sleep(10s); };
    std::array<char, 16> buf{};
    std::vector<Case> cases = {
        {"sleep", [] { return [](int) -> Task<> { co_await iomux::sleep(10s); }(0); }},
        {"readable", [&] { return [](int fd) -> Task<> { co_await iomux::readable(fd); }(p.a.get()); }},
        {"writable", [&] { return [](int fd) -> Task<> { co_await iomux::writable(fd); }(p.a.get()); }},
        {"stream read",
         [&] { return [](Stream& s, std::span<char> b) -> Task<> { (void)co_await s.read(b); }(pair.server, buf); }},
        {"stream write",
         [&] { return [](Stream& s, std::string_view d) -> Task<> { co_await s.write(d); }(pair.client, big); }},
        {"accept", [&] { return [](Acceptor& a) -> Task<> { (void)co_await a.accept(); }(idle_acceptor); }},
        {"child task", [&] { return [](decltype(child_sleep) c) -> Task<> { co_await c(); }(child_sleep); }},
        {"with_timeout", [] { return [](int) -> Task<> { co_await iomux::with_timeout(10s, iomux::sleep(10s)); }(0); }},
        {"run_in_loop",
         [&] { return [](Reactor& o) -> Task<> { co_await iomux::run_in_loop(o, [] { return 1; }); }(other); }},
        {"connect",
         [&] { return [](std::uint16_t port) -> Task<> { (void)co_await iomux::connect("127.0.0.1", port); }(
                   port_of(idle_acceptor)); }},
    };
    for (auto& c : cases) {
        CAPTURE(c.name);
        Outcome out;
        TaskHandle h = iomux::spawn(loop, record(c.make(), out));
        loop.run_once(0ms);  // started, and suspended in its await
        REQUIRE(!out.done);
        h.cancel();
        CHECK(out.done);  // resumed inside cancel()
        CHECK(out.error == ECANCELED);
        run_idle(loop, 3);
    }
    // The awaits were unhooked: the loop holds no callback of theirs, nothing fires late.
    CHECK(!loop.remove_reader(p.a.get()));
    CHECK(!loop.remove_writer(p.a.get()));
    bool ok = false;
    auto again = [](int fd, bool& ok) -> Task<> {
        co_await iomux::with_timeout(50ms, iomux::readable(fd));
        ok = true;
    };
    Outcome out;
    iomux::spawn(loop, record(again(p.a.get(), ok), out));
    REQUIRE(run_until(loop, [&] { return out.done; }));
    CHECK(out.error == ETIMEDOUT);
    CHECK(idle_acceptor.server().stats().accepted == 1);  // the cancelled connect's, aborted
}

TEST_CASE("cancel() of a running or not yet started task cancels its next await; the task may catch it and go on") {
    Reactor loop;
    std::vector<int> errors;
    auto body = [](std::vector<int>& errors) -> Task<> {
        for (int i = 0; i < 2; ++i) {
            try {
                co_await iomux::sleep(1ms);
                errors.push_back(0);
            } catch (const std::system_error& e) {
                errors.push_back(e.code().value());
            }
        }
    };
    TaskHandle h = iomux::spawn(loop, body(errors));
    h.cancel();  // before it started
    REQUIRE(run_until(loop, [&] { return errors.size() == 2; }));
    CHECK(errors == std::vector<int>{ECANCELED, 0});
    CHECK(h.done());
    h.cancel();  // harmless once done
}

// ---- streams

TEST_CASE("streams: 1 MiB each way byte-exact, read() 0 at EOF after write_eof(), then a clean close") {
    Reactor loop;
    Acceptor acceptor(loop, "127.0.0.1", 0);
    const std::string data = pattern(1 << 20, 3);
    std::string echoed;
    Outcome server_out, client_out;
    auto echo = [](Stream s) -> Task<> {
        std::array<char, 4096> buffer;
        while (std::size_t n = co_await s.read(buffer)) co_await s.write({buffer.data(), n});
    };
    auto serve = [](Acceptor& a, decltype(echo) echo, Outcome& out) -> Task<> {
        co_await record(echo(co_await a.accept()), out);
    };
    auto client = [](std::uint16_t port, const std::string& data, std::string& echoed) -> Task<> {
        Stream s = co_await iomux::connect("127.0.0.1", port);
        auto reader = [](Stream& s, std::string& into) -> Task<> {
            std::array<char, 1000> b;
            while (std::size_t n = co_await s.read(b)) into.append(b.data(), n);
        };
        // Reading and writing at once, in two tasks, one stream.
        Outcome read_out;
        iomux::spawn(s.transport()->loop(), record(reader(s, echoed), read_out));
        for (std::size_t at = 0; at < data.size(); at += 65536)
            co_await s.write(std::string_view(data).substr(at, 65536));
        s.write_eof();
        while (!read_out.done) co_await iomux::sleep(1ms);
        CHECK(read_out.error == 0);
        std::array<char, 1> b;
        CHECK(co_await s.read(b) == 0);  // EOF stays EOF
    };
    iomux::spawn(loop, serve(acceptor, echo, server_out));
    iomux::spawn(loop, record(client(port_of(acceptor), data, echoed), client_out));
    REQUIRE(run_until(loop, [&] { return server_out.done && client_out.done; }));
    CHECK(server_out.error == 0);
    CHECK(client_out.error == 0);
    CHECK(echoed.size() == data.size());
    CHECK(echoed == data);
    CHECK(run_until(loop, [&] { return acceptor.server().connections() == 0; }));
}

TEST_CASE("streams: a reset peer makes read() throw ECONNRESET; writes after it throw too") {
    Reactor loop;
    Acceptor acceptor(loop, "127.0.0.1", 0);
    StreamPair pair;
    connect_pair(loop, acceptor, pair);
    Outcome out;
    std::array<char, 16> buf{};
    auto reader = [](Stream& s, std::span<char> b) -> Task<> { (void)co_await s.read(b); }(pair.server, buf);
    iomux::spawn(loop, record(std::move(reader), out));
    loop.run_once(0ms);
    // SO_LINGER 0: close() sends RST.
    linger lg{1, 0};
    REQUIRE(::setsockopt(pair.client.transport()->fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
    pair.client.abort();
    REQUIRE(run_until(loop, [&] { return out.done; }));
    CHECK(out.error == ECONNRESET);
    Outcome w;
    auto writer = [](Stream& s) -> Task<> { co_await s.write("x"); }(pair.server);
    iomux::spawn(loop, record(std::move(writer), w));
    REQUIRE(run_until(loop, [&] { return w.done; }));
    CHECK(w.error == ECONNRESET);
    CHECK(!pair.server.is_open());
}

TEST_CASE("streams: write() waits while the buffer is over the high-water mark and resumes as the peer reads") {
    Reactor loop;
    Acceptor acceptor(loop, "127.0.0.1", 0);
    StreamPair pair;
    connect_pair(loop, acceptor, pair);
    pair.client.transport()->set_write_buffer_limits(64 * 1024, 16 * 1024);
    const std::string chunk = pattern(64 * 1024, 5);
    int written = 0;
    std::size_t max_buffered = 0;
    Outcome out;
    auto writer = [](Stream& s, const std::string& chunk, int& written, std::size_t& max_buffered) -> Task<> {
        for (int i = 0; i < 256; ++i) {  // 16 MiB
            co_await s.write(chunk);
            max_buffered = std::max(max_buffered, s.transport()->write_buffer_size());
            ++written;
        }
        s.write_eof();
    };
    iomux::spawn(loop, record(writer(pair.client, chunk, written, max_buffered), out));
    // Nobody reads: once the kernel's buffers are full (they may grow a while), the writer
    // must be stuck, far from done.
    int stuck_at = -1;
    const auto deadline = Clock::now() + kDeadline;
    while (written != stuck_at && Clock::now() < deadline) {
        stuck_at = written;
        run_idle(loop, 30);
    }
    CHECK(written == stuck_at);
    CHECK(!out.done);
    CHECK(written < 256);
    std::string got;
    Outcome read_out;
    auto reader = [](Stream& s, std::string& got) -> Task<> {
        std::array<char, 16384> b;
        while (std::size_t n = co_await s.read(b)) got.append(b.data(), n);
    };
    iomux::spawn(loop, record(reader(pair.server, got), read_out));
    REQUIRE(run_until(loop, [&] { return out.done && read_out.done; }, 30s));
    CHECK(out.error == 0);
    CHECK(got.size() == 256 * chunk.size());
    CHECK(got.substr(0, chunk.size()) == chunk);
    // Resumed once under the mark: the buffer never held much more than the mark plus one write.
    CHECK(max_buffered <= 64 * 1024 + chunk.size());
}

TEST_CASE("streams: close() resumes the pending read and write with operation_canceled; later awaits throw it") {
    Reactor loop;
    Acceptor acceptor(loop, "127.0.0.1", 0);
    StreamPair pair;
    connect_pair(loop, acceptor, pair);
    pair.server.transport()->set_write_buffer_limits(1024);
    const std::string big = pattern(8 << 20);
    Outcome r, w;
    std::array<char, 16> buf{};
    iomux::spawn(loop, record([](Stream& s, std::span<char> b) -> Task<> { (void)co_await s.read(b); }(pair.server, buf), r));
    iomux::spawn(loop, record([](Stream& s, std::string_view d) -> Task<> { co_await s.write(d); }(pair.server, big), w));
    loop.run_once(0ms);
    REQUIRE(!r.done);
    REQUIRE(!w.done);
    pair.server.close();
    CHECK(r.done);
    CHECK(w.done);
    CHECK(r.error == ECANCELED);
    CHECK(w.error == ECANCELED);
    Outcome again;
    iomux::spawn(loop, record([](Stream& s, std::span<char> b) -> Task<> { (void)co_await s.read(b); }(pair.server, buf), again));
    REQUIRE(run_until(loop, [&] { return again.done; }));
    CHECK(again.error == ECANCELED);
    // The peer sees the close after the buffered bytes (close() flushes).
    std::string got;
    Outcome peer;
    iomux::spawn(loop, record([](Stream& s, std::string& got) -> Task<> {
        std::array<char, 65536> b;
        while (std::size_t n = co_await s.read(b)) got.append(b.data(), n);
    }(pair.client, got), peer));
    REQUIRE(run_until(loop, [&] { return peer.done; }, 30s));
    CHECK(peer.error == 0);
    CHECK(got == big);
}

TEST_CASE("streams: a read timed out by with_timeout leaves the stream usable; the bytes that come later are read") {
    Reactor loop;
    Acceptor acceptor(loop, "127.0.0.1", 0);
    StreamPair pair;
    connect_pair(loop, acceptor, pair);
    Outcome out;
    std::string got;
    int timeouts = 0;
    auto reader = [](Stream& s, std::string& got, int& timeouts) -> Task<> {
        for (;;) {
            try {
                if (co_await iomux::with_timeout(20ms, s.read(got)) == 0) break;
            } catch (const std::system_error& e) {
                if (e.code() != std::errc::timed_out) throw;
                ++timeouts;
            }
        }
    };
    iomux::spawn(loop, record(reader(pair.server, got, timeouts), out));
    REQUIRE(run_until(loop, [&] { return timeouts >= 2; }));
    auto writer = [](Stream& s) -> Task<> {
        co_await s.write("late ");
        co_await iomux::sleep(50ms);
        co_await s.write("bytes");
        s.write_eof();
    };
    iomux::spawn(loop, writer(pair.client));
    REQUIRE(run_until(loop, [&] { return out.done; }));
    CHECK(out.error == 0);
    CHECK(got == "late bytes");
    CHECK(timeouts >= 3);  // one more while the writer slept
}

TEST_CASE("Acceptor: connections that arrive before accept() queue in order; close() cancels accept()") {
    Reactor loop;
    Acceptor acceptor(loop, "127.0.0.1", 0);
    std::vector<Stream> clients(3);
    int connected = 0;
    auto connect_one = [](std::uint16_t port, Stream& into, int& connected, int i) -> Task<> {
        co_await iomux::sleep(std::chrono::milliseconds(5 * i));
        into = co_await iomux::connect("127.0.0.1", port);
        co_await into.write(std::string(1, static_cast<char>('a' + i)));
        ++connected;
    };
    for (int i = 0; i < 3; ++i) iomux::spawn(loop, connect_one(port_of(acceptor), clients[i], connected, i));
    REQUIRE(run_until(loop, [&] { return connected == 3; }));
    run_idle(loop, 5);
    std::string order;
    Outcome out;
    auto accept3 = [](Acceptor& a, std::string& order) -> Task<> {
        for (int i = 0; i < 3; ++i) {
            Stream s = co_await a.accept();
            std::array<char, 1> b;
            REQUIRE(co_await s.read(b) == 1);
            order += b[0];
        }
        (void)co_await a.accept();  // cancelled by close()
    };
    iomux::spawn(loop, record(accept3(acceptor, order), out));
    REQUIRE(run_until(loop, [&] { return order.size() == 3; }));
    run_idle(loop, 2);
    CHECK(!out.done);
    acceptor.close();
    CHECK(out.done);
    CHECK(out.error == ECANCELED);
    CHECK(order == "abc");
}

TEST_CASE("connect: refused gives ECONNREFUSED, a name that does not resolve a resolve error") {
    Reactor loop;
    std::uint16_t closed_port = 0;
    {
        iomux::UniqueFd l = iomux::listen_tcp("127.0.0.1", 0);
        closed_port = iomux::local_address(l.get()).port;
    }
    Outcome refused, unresolved;
    iomux::spawn(loop, record([](std::uint16_t p) -> Task<> { (void)co_await iomux::connect("127.0.0.1", p); }(closed_port), refused));
    iomux::spawn(loop, record([]() -> Task<> { (void)co_await iomux::connect("no-such-host.invalid", 1); }(), unresolved));
    REQUIRE(run_until(loop, [&] { return refused.done && unresolved.done; }));
    CHECK(refused.error == ECONNREFUSED);
    CHECK(unresolved.error != 0);
    CHECK(unresolved.error != ECANCELED);
}

// ---- scale, lifetime, allocations

TEST_CASE("11000 concurrent tasks, each sleeping and awaiting a child, all complete") {
    Reactor loop;
    constexpr int kTasks = 11000;
    int finished = 0;
    auto child = [](int i) -> Task<int> {
        co_await iomux::sleep(std::chrono::milliseconds(i % 50));
        co_return i;
    };
    auto task = [](decltype(child) child, int i, int& finished) -> Task<> {
        const int v = co_await child(i);
        co_await iomux::sleep(1ms);
        if (v == i) ++finished;
    };
    for (int i = 0; i < kTasks; ++i) iomux::spawn(loop, task(child, i, finished));
    loop.run_once(0ms);
    CHECK(loop.owned().size() == static_cast<std::size_t>(kTasks));  // all alive at once
    REQUIRE(run_until(loop, [&] { return finished == kTasks; }, 30s));
    CHECK(loop.owned().size() == 0);
}

TEST_CASE("destroying the loop destroys its suspended tasks' frames, and resumes none of them") {
    int alive = 0;
    int resumed = 0;
    auto p = iomux::test::socket_pair();
    {
        Reactor loop;
        Acceptor acceptor(loop, "127.0.0.1", 0);
        StreamPair pair;
        connect_pair(loop, acceptor, pair);
        std::array<char, 16> buf{};
        auto sleeper = [](int& alive, int& resumed) -> Task<> {
            Alive a(alive);
            co_await iomux::sleep(10s);
            ++resumed;
        };
        auto reader = [](int& alive, int& resumed, Stream s, std::span<char> b) -> Task<> {
            Alive a(alive);
            try {
                (void)co_await s.read(b);
            } catch (...) {
            }
            ++resumed;
        };
        auto waiter = [](int& alive, int& resumed, int fd) -> Task<> {
            Alive a(alive);
            co_await iomux::with_timeout(10s, iomux::readable(fd));
            ++resumed;
        };
        auto connector = [](int& alive, int& resumed, std::uint16_t port, std::span<char> b) -> Task<> {
            Alive a(alive);
            Stream s = co_await iomux::connect("127.0.0.1", port);
            try {
                (void)co_await s.read(b);  // the transport is newer than this task
            } catch (...) {
            }
            ++resumed;
        };
        iomux::spawn(loop, sleeper(alive, resumed));
        iomux::spawn(loop, reader(alive, resumed, std::move(pair.server), buf));
        iomux::spawn(loop, waiter(alive, resumed, p.a.get()));
        iomux::spawn(loop, connector(alive, resumed, port_of(acceptor), buf));
        run_until(loop, [&] { return acceptor.server().connections() == 2; });
        REQUIRE(acceptor.server().connections() == 2);
        CHECK(alive == 4);
        iomux::spawn(loop, sleeper(alive, resumed));  // never started
        // The acceptor goes first (declared after the loop), as a server must.
    }
    CHECK(alive == 0);
    CHECK(resumed == 0);
}

TEST_CASE("no allocation per await once warm: stream reads and writes, readable, writable, task awaits") {
    Reactor loop;
    Acceptor acceptor(loop, "127.0.0.1", 0);
    StreamPair pair;
    connect_pair(loop, acceptor, pair);
    long rounds = 0;
    bool go = true;
    auto echo = [](Stream& s, bool& go) -> Task<> {
        std::array<char, 256> b;
        while (go) {
            const std::size_t n = co_await s.read(b);
            if (n == 0) break;
            co_await s.write({b.data(), n});
        }
    };
    auto ping = [](Stream& s, long& rounds, bool& go) -> Task<> {
        auto step = [](Stream& s) -> Task<std::size_t> {
            co_await s.write("ping");
            std::array<char, 256> b;
            co_return co_await s.read(b);
        };
        while (go) {
            if (co_await step(s) != 4) break;
            ++rounds;
        }
    };
    auto p = iomux::test::socket_pair();
    long hops = 0;
    auto fd_ping = [](int fd, long& hops, bool& go) -> Task<> {
        char c = 'x';
        while (go) {
            co_await iomux::writable(fd);
            if (::write(fd, &c, 1) != 1) break;
            co_await iomux::readable(fd);
            if (::read(fd, &c, 1) != 1) break;
            ++hops;
        }
    };
    auto fd_pong = [](int fd, bool& go) -> Task<> {
        char c;
        while (go) {
            co_await iomux::readable(fd);
            if (::read(fd, &c, 1) != 1) break;
            co_await iomux::writable(fd);
            if (::write(fd, &c, 1) != 1) break;
        }
    };
    iomux::spawn(loop, echo(pair.server, go));
    iomux::spawn(loop, ping(pair.client, rounds, go));
    iomux::spawn(loop, fd_pong(p.b.get(), go));
    iomux::spawn(loop, fd_ping(p.a.get(), hops, go));
    REQUIRE(run_until(loop, [&] { return rounds >= 200 && hops >= 200; }));  // warm
    const long rounds_before = rounds, hops_before = hops;
    const long before = g_allocations.load();
    for (int i = 0; i < 300; ++i) loop.run_once(10ms);
    const long allocations = g_allocations.load() - before;
    MESSAGE((rounds - rounds_before) << " stream round trips (each a Task<> frame: 1 allocation), "
                                     << (hops - hops_before) << " fd round trips, " << allocations << " allocations");
    CHECK(rounds - rounds_before >= 50);
    CHECK(hops - hops_before >= 50);
    // One frame per step() call; nothing else.
    CHECK(allocations <= rounds - rounds_before + 1);
    go = false;
}

TEST_CASE("sleep costs one allocation per await: the loop's timer record") {
    Reactor loop;
    long n = 0;
    bool go = true;
    auto sleeper = [](long& n, bool& go) -> Task<> {
        while (go) {
            co_await iomux::sleep(0ms);
            ++n;
        }
    };
    iomux::spawn(loop, sleeper(n, go));
    for (int i = 0; i < 50; ++i) loop.run_once(1ms);
    const long before_n = n;
    const long before = g_allocations.load();
    for (int i = 0; i < 200; ++i) loop.run_once(1ms);
    const long allocations = g_allocations.load() - before;
    CHECK(n - before_n >= 100);
    CHECK(allocations <= n - before_n);
    go = false;
}

TEST_CASE("run_in_loop: fn runs on the other loop's thread; its result or exception comes back") {
    Reactor loop;
    Reactor other;
    std::thread::id other_id;
    std::atomic<bool> stop{false};
    std::thread t([&] {
        other_id = std::this_thread::get_id();
        while (!stop) other.run_once(10ms);
    });
    Outcome out, failed;
    std::thread::id ran_on;
    int value = 0;
    auto body = [](Reactor& other, std::thread::id& ran_on, int& value) -> Task<> {
        value = co_await iomux::run_in_loop(other, [&ran_on] {
            ran_on = std::this_thread::get_id();
            return 41;
        });
        ++value;
    };
    auto throws = [](Reactor& other) -> Task<> {
        co_await iomux::run_in_loop(other, []() -> void { throw std::system_error(EDOM, std::generic_category()); });
    };
    iomux::spawn(loop, record(body(other, ran_on, value), out));
    iomux::spawn(loop, record(throws(other), failed));
    const bool done = run_until(loop, [&] { return out.done && failed.done; });
    stop = true;
    t.join();
    REQUIRE(done);
    CHECK(out.error == 0);
    CHECK(value == 42);
    CHECK(ran_on == other_id);
    CHECK(ran_on != std::this_thread::get_id());
    CHECK(failed.error == EDOM);
}

TEST_CASE("run_in_loop cancelled while fn runs: the task resumes at once, the late result is dropped") {
    Reactor loop;
    Reactor other;
    std::atomic<bool> stop{false};
    std::atomic<bool> fn_done{false};
    std::thread t([&] {
        while (!stop) other.run_once(10ms);
    });
    Outcome out;
    auto body = [](Reactor& other, std::atomic<bool>& fn_done) -> Task<> {
        auto v = co_await iomux::run_in_loop(other, [&fn_done] {
            std::this_thread::sleep_for(100ms);
            fn_done = true;
            return std::make_unique<int>(5);  // a move-only result
        });
        CHECK(v == nullptr);  // not reached
    };
    TaskHandle h = iomux::spawn(loop, record(body(other, fn_done), out));
    loop.run_once(0ms);
    REQUIRE(!out.done);
    h.cancel();
    CHECK(out.done);
    CHECK(out.error == ECANCELED);
    CHECK(!fn_done);
    const bool finished = run_until(loop, [&] { return fn_done.load(); });
    run_idle(loop, 5);  // the result's hand-back, if any, would run now
    stop = true;
    t.join();
    CHECK(finished);
}

TEST_CASE("2000 connections at once through one Acceptor, a task each side, every one echoed and closed") {
    iomux::test::raise_fd_limit();
    Reactor loop;
    Acceptor acceptor(loop, "127.0.0.1", 0);
    constexpr int kConns = 2000;
    int echoed = 0, failed = 0;
    auto echo = [](Stream s) -> Task<> {
        std::string data;
        while (co_await s.read(data)) {
            co_await s.write(data);
            data.clear();
        }
    };
    auto serve = [](Acceptor& a, decltype(echo) echo) -> Task<> {
        try {
            for (;;) iomux::spawn(a.loop(), echo(co_await a.accept()));
        } catch (const std::system_error& e) {
            CHECK(e.code() == std::errc::operation_canceled);  // server.cancel() below
        }
    };
    auto client = [](std::uint16_t port, int i, int& echoed, int& failed) -> Task<> {
        try {
            Stream s = co_await iomux::connect("127.0.0.1", port);
            const std::string msg = "client " + std::to_string(i);
            co_await s.write(msg);
            s.write_eof();
            std::string back;
            while (co_await s.read(back)) {
            }
            if (back == msg) ++echoed;
            else ++failed;
        } catch (const std::exception&) {
            ++failed;
        }
    };
    TaskHandle server = iomux::spawn(loop, serve(acceptor, echo));
    for (int i = 0; i < kConns; ++i) iomux::spawn(loop, client(port_of(acceptor), i, echoed, failed));
    REQUIRE(run_until(loop, [&] { return echoed + failed == kConns; }, 30s));
    CHECK(echoed == kConns);
    CHECK(failed == 0);
    CHECK(run_until(loop, [&] { return acceptor.server().connections() == 0; }));
    server.cancel();
    CHECK(server.done());
    run_idle(loop, 3);
    CHECK(loop.owned().size() == 0);  // every task and transport gone
}
