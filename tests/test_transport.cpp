// Transport contract: what a protocol may count on from a Transport, a Server and
// create_connection (protocol.hpp, transport.hpp, server.hpp, connect.hpp), on the backend
// under test (IOMUX_BACKEND: meson runs this program once per backend). Loopback only.
//
// No sleeps: every wait is loop iterations (run_once) until a condition holds or a deadline
// passes, and "nothing happens" is checked over iterations that would have delivered it.
// Every connection's end is checked alike (check_ended_once): connection_lost exactly
// once, last, with its Transport still usable inside the call.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/process_stats.hpp"
#include "poller/errors.hpp"
#include "poller/unique_fd.hpp"
#include "reactor/completion_io.hpp"
#include "reactor/connect.hpp"
#include "reactor/protocol.hpp"
#include "reactor/reactor.hpp"
#include "reactor/server.hpp"
#include "reactor/transport.hpp"
#include "support.hpp"
#include "test_helpers.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using iomux::Protocol;
using iomux::Reactor;
using iomux::Transport;
using iomux::UniqueFd;
using iomux::test::fd_is_open;
using iomux::test::ms_since;

constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * KiB;
// How long one expected event may take: generous for sanitizers and valgrind on a shared
// 2-core machine, and still a bound.
constexpr std::chrono::milliseconds kDeadline = 10s;

template <class Pred>
bool run_until(Reactor& loop, Pred&& pred, std::chrono::milliseconds limit = kDeadline) {
    const auto deadline = Clock::now() + limit;
    while (!pred() && Clock::now() < deadline) loop.run_once(10ms);
    return pred();
}

// Enough iterations to deliver whatever is pending: for checks that something does not happen.
void run_idle(Reactor& loop, int iterations = 10) {
    for (int i = 0; i < iterations; ++i) loop.run_once(5ms);
}

// Bytes with no short period (xorshift), so a lost, repeated or reordered chunk shows.
std::string pattern(std::size_t n, std::uint32_t seed = 1) {
    std::string s(n, '\0');
    std::uint32_t x = 0x9e3779b9u ^ (seed * 2654435761u);
    if (x == 0) x = 1;
    for (char& c : s) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        c = static_cast<char>(x >> 24);
    }
    return s;
}

// "" when equal; else the sizes and the first differing offset (doctest would print megabytes).
std::string diff(std::string_view got, std::string_view want) {
    if (got == want) return {};
    const std::size_t n = std::min(got.size(), want.size());
    std::size_t i = 0;
    while (i < n && got[i] == want[i]) ++i;
    return fmt::format("got {} bytes, want {}; first difference at byte {}", got.size(), want.size(), i);
}

bool is_prefix(std::string_view prefix, std::string_view of) { return of.substr(0, prefix.size()) == prefix; }

// The completion path (io_uring) sends at the loop's next wait, not inside write().
bool completion_path(const Transport& t) { return t.loop().io_path() == "completion"; }

// ---------------------------------------------------------------------------------------
// Probe: what a connection's protocol saw, kept by the test (the protocol dies with its
// transport), and hooks for the test to act from inside each callback.

struct Probe {
    std::function<void(Transport&)> on_made;
    std::function<void(Transport&, std::string_view)> on_data;  // data_received or buffer_updated
    std::function<bool(Transport&)> on_eof;                     // unset: return false
    std::function<void(Transport&)> on_pause, on_resume;
    std::function<void(Transport&, std::error_code)> on_lost;
    std::function<void()> on_get_buffer;  // BufferedProtocol only
    std::size_t buffer_size = 100;        // BufferedProtocol only; 0 asks for an empty buffer

    Transport* transport = nullptr;  // from connection_made until connection_lost returns
    int fd = -1;
    std::string received;
    int made = 0, data = 0, eofs = 0, pauses = 0, resumes = 0, lost = 0;
    int get_buffers = 0, oversized = 0;  // buffer_updated(n) with n past the buffer: never
    std::error_code error;               // connection_lost's
    int after_lost = 0;                  // callbacks after connection_lost (or before made): never
    int data_not_reading = 0;            // deliveries while !is_reading(): never
    bool closing_in_lost = false, reading_in_lost = true, fd_in_lost = false;
    std::vector<std::string> trace;  // the callbacks in order, a run of data_received as one

    // create_connection's outcome, for clients.
    int factory_calls = 0;
    bool connect_returned = false, connect_done = false, done_inside_call = false;
    int made_when_done = -1;
    std::error_code connect_error;

    Transport& t() {
        REQUIRE(transport != nullptr);
        return *transport;
    }
};

std::string trace_of(const Probe& p) { return fmt::format("{}", fmt::join(p.trace, " ")); }

template <class Base>
class ProbeBase : public Base {
public:
    explicit ProbeBase(Probe& p) : p_(p) {}

    void connection_made(Transport& t) override {
        if (!enter("made")) return;
        ++p_.made;
        p_.transport = &t;
        p_.fd = t.fd();
        if (p_.on_made) p_.on_made(t);
    }
    bool eof_received() override {
        if (!enter("eof")) return false;
        ++p_.eofs;
        return p_.on_eof ? p_.on_eof(*p_.transport) : false;
    }
    void pause_writing() override {
        if (!enter("pause")) return;
        ++p_.pauses;
        if (p_.on_pause) p_.on_pause(*p_.transport);
    }
    void resume_writing() override {
        if (!enter("resume")) return;
        ++p_.resumes;
        if (p_.on_resume) p_.on_resume(*p_.transport);
    }
    void connection_lost(std::error_code error) override {
        if (!enter("lost")) return;
        ++p_.lost;
        p_.error = error;
        // The Transport& must still be valid here (ASan would see it otherwise).
        Transport& t = *p_.transport;
        p_.closing_in_lost = t.is_closing();
        p_.reading_in_lost = t.is_reading();
        p_.fd_in_lost = t.fd() == p_.fd;
        (void)t.get_write_buffer_limits();
        Transport* was = std::exchange(p_.transport, nullptr);
        if (p_.on_lost) p_.on_lost(*was, error);
    }

protected:
    void got_data(std::string_view bytes) {
        if (!enter("data")) return;
        if (!p_.transport->is_reading()) ++p_.data_not_reading;
        ++p_.data;
        p_.received.append(bytes);
        if (p_.on_data) p_.on_data(*p_.transport, bytes);
    }
    // False (and counted) for a callback after connection_lost, or before connection_made.
    bool enter(const char* what) {
        if (p_.lost > 0 || (p_.transport == nullptr && std::string_view(what) != "made")) {
            ++p_.after_lost;
            return false;
        }
        if (std::string_view(what) != "data" || p_.trace.empty() || p_.trace.back() != "data") p_.trace.emplace_back(what);
        return true;
    }

    Probe& p_;
};

class ProbeProtocol final : public ProbeBase<Protocol> {
public:
    using ProbeBase::ProbeBase;
    void data_received(std::string_view bytes) override { got_data(bytes); }
};

class BufferedProbeProtocol final : public ProbeBase<iomux::BufferedProtocol> {
public:
    explicit BufferedProbeProtocol(Probe& p) : ProbeBase(p) {
        for (auto& b : buffers_) b.resize(std::max<std::size_t>(p.buffer_size, 1));
    }
    // Two buffers in turn, cleared each time: bytes read anywhere but into the start of the
    // last one returned would show as a difference.
    std::span<char> get_buffer(std::size_t) override {
        ++p_.get_buffers;
        if (p_.on_get_buffer) p_.on_get_buffer();
        current_ ^= 1;
        auto& b = buffers_[current_];
        std::fill(b.begin(), b.end(), '\0');
        return {b.data(), p_.buffer_size};
    }
    void buffer_updated(std::size_t n) override {
        if (n > p_.buffer_size) ++p_.oversized;
        got_data({buffers_[current_].data(), std::min(n, p_.buffer_size)});
    }

private:
    std::array<std::vector<char>, 2> buffers_;
    int current_ = 0;
};

std::unique_ptr<Protocol> make_protocol(Probe& p, bool buffered) {
    if (buffered) return std::make_unique<BufferedProbeProtocol>(p);
    return std::make_unique<ProbeProtocol>(p);
}

// One Probe per connection a server accepts, each set up by `setup`.
struct ProbeSet {
    std::function<void(Probe&)> setup;
    bool buffered = false;
    std::deque<Probe> all;  // a deque: references stay valid as it grows

    iomux::ProtocolFactory factory() {
        return [this]() -> std::unique_ptr<Protocol> {
            Probe& p = all.emplace_back();
            if (setup) setup(p);
            return make_protocol(p, buffered);
        };
    }
};

void echo(Probe& p) {
    p.on_data = [](Transport& t, std::string_view bytes) { t.write(bytes); };
}

// ---------------------------------------------------------------------------------------
// Raw sockets: the other end, driven by the test between loop iterations.

sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    return addr;
}

UniqueFd tcp_socket() {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(fd);
    return fd;
}

void set_nonblocking(int fd) { REQUIRE(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) == 0); }

// 0, or the errno of a blocking connect (loopback: the kernel completes the handshake).
int connect_blocking(int fd, std::uint16_t port) {
    const sockaddr_in addr = loopback(port);
    return ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 ? 0 : errno;
}

// A port nothing listens on: bound once by us, then released.
std::uint16_t unused_port() {
    const UniqueFd fd = tcp_socket();
    sockaddr_in addr = loopback(0);
    REQUIRE(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    return ntohs(addr.sin_port);
}

int get_int_option(int fd, int level, int name) {
    int value = -1;
    socklen_t len = sizeof value;
    REQUIRE(::getsockopt(fd, level, name, &value, &len) == 0);
    return value;
}

class RawPeer {
public:
    UniqueFd fd;
    std::string got;
    bool eof = false;
    int error = 0;  // what recv failed with: ECONNRESET...

    // A connected non-blocking client; rcvbuf > 0 shrinks its receive window first.
    static RawPeer connect_to(std::uint16_t port, int rcvbuf = 0) {
        UniqueFd fd = tcp_socket();
        if (rcvbuf > 0) REQUIRE(::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) == 0);
        REQUIRE(connect_blocking(fd.get(), port) == 0);
        return adopt(std::move(fd));
    }
    static RawPeer adopt(UniqueFd fd) {
        REQUIRE(fd);
        set_nonblocking(fd.get());
        RawPeer peer;
        peer.fd = std::move(fd);
        return peer;
    }

    // Reads what has arrived; true once the stream ended (EOF or an error).
    bool pump() {
        char buf[64 * 1024];
        while (!eof && error == 0) {
            const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
            if (n > 0) {
                got.append(buf, static_cast<std::size_t>(n));
            } else if (n == 0) {
                eof = true;
            } else if (errno != EINTR) {
                if (errno != EAGAIN && errno != EWOULDBLOCK) error = errno;
                break;
            }
        }
        return eof || error != 0;
    }
    void send(std::string_view bytes) {
        outbox_.append(bytes);
        flush();
    }
    // Sends what the kernel takes of what send() queued; true when all of it is out.
    bool flush() {
        while (sent_ < outbox_.size()) {
            const ssize_t n = ::send(fd.get(), outbox_.data() + sent_, outbox_.size() - sent_, MSG_NOSIGNAL);
            if (n > 0) sent_ += static_cast<std::size_t>(n);
            else if (n < 0 && errno == EINTR) continue;
            else break;
        }
        return sent_ == outbox_.size();
    }
    void shutdown_write() { REQUIRE(::shutdown(fd.get(), SHUT_WR) == 0); }
    // Closes with SO_LINGER {1, 0}: the kernel sends RST, not FIN.
    void reset() {
        const linger lg{1, 0};
        REQUIRE(::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
        fd.reset();
    }

private:
    std::string outbox_;
    std::size_t sent_ = 0;
};

// Without a loop (it is gone): polls until the peer's stream ends or the deadline passes.
bool wait_closed(RawPeer& peer) {
    const auto deadline = Clock::now() + kDeadline;
    while (!peer.pump() && Clock::now() < deadline) {
        pollfd pfd{peer.fd.get(), POLLIN, 0};
        ::poll(&pfd, 1, 10);
    }
    return peer.pump();
}

// A listener nobody serves unless the test accepts.
struct RawListener {
    UniqueFd fd;
    std::uint16_t port = 0;

    explicit RawListener(int backlog = 16) : fd(tcp_socket()) {
        sockaddr_in addr = loopback(0);
        REQUIRE(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
        REQUIRE(::listen(fd.get(), backlog) == 0);
        socklen_t len = sizeof addr;
        REQUIRE(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
        port = ntohs(addr.sin_port);
    }
    // The next connection; the kernel completed its handshake, so no loop has to run.
    UniqueFd accept() const {
        pollfd pfd{fd.get(), POLLIN, 0};
        REQUIRE(::poll(&pfd, 1, static_cast<int>(kDeadline.count())) == 1);
        UniqueFd conn(::accept4(fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
        REQUIRE(conn);
        return conn;
    }
};

// ---------------------------------------------------------------------------------------
// Rig: a loop, a server on 127.0.0.1 port 0 whose connections get Probes, and clients.
// Members in destruction order: the server before the loop, the loop before the probes.

struct Rig {
    std::vector<std::pair<int, std::string>> exceptions;  // (fd, what) the handler was given
    bool expect_exceptions = false;
    ProbeSet probes;            // one per connection the server accepts
    std::deque<Probe> clients;  // one per connect()
    Reactor loop;
    std::unique_ptr<iomux::Server> server;

    Rig() {
        loop.set_exception_handler([this](int fd, std::exception_ptr e) {
            exceptions.emplace_back(fd, iomux::describe_exception(e));
        });
    }
    ~Rig() {
        if (expect_exceptions) return;
        for (const auto& [fd, what] : exceptions) FAIL_CHECK(fmt::format("unexpected exception, fd {}: {}", fd, what));
    }
    Rig(const Rig&) = delete;
    Rig& operator=(const Rig&) = delete;

    iomux::Server& listen(iomux::ServerOptions options = {}) {
        server = iomux::create_server(loop, probes.factory(), "127.0.0.1", 0, options);
        return *server;
    }
    std::uint16_t port() const { return server->sockname().port; }

    template <class Pred>
    bool until(Pred&& pred, std::chrono::milliseconds limit = kDeadline) {
        return run_until(loop, std::forward<Pred>(pred), limit);
    }
    bool until_ended(const Probe& p) {
        return until([&] { return p.lost > 0; });
    }
    // Reads the peer to the end of its stream.
    bool until_closed(RawPeer& peer) {
        return until([&] { return peer.pump(); });
    }

    // The index-th connection the server accepted, once connection_made ran.
    Probe& served(std::size_t index = 0) {
        REQUIRE(until([&] { return probes.all.size() > index && probes.all[index].made == 1; }));
        return probes.all[index];
    }
    RawPeer raw_client(int rcvbuf = 0) { return RawPeer::connect_to(port(), rcvbuf); }

    // A create_connection client; its outcome lands in the Probe (connect_*).
    Probe& connect(const std::function<void(Probe&)>& setup = {}, iomux::ConnectOptions options = {},
                   std::string_view host = "127.0.0.1", std::optional<std::uint16_t> to = std::nullopt) {
        Probe& p = clients.emplace_back();
        if (setup) setup(p);
        iomux::create_connection(
            loop,
            [&p]() -> std::unique_ptr<Protocol> {
                ++p.factory_calls;
                return make_protocol(p, false);
            },
            host, to ? *to : port(),
            [&p](std::error_code error) {
                p.connect_done = true;
                p.connect_error = error;
                p.done_inside_call = !p.connect_returned;
                p.made_when_done = p.made;
            },
            options);
        p.connect_returned = true;
        return p;
    }
    Probe& connected(const std::function<void(Probe&)>& setup = {}) {
        Probe& p = connect(setup);
        REQUIRE(until([&] { return p.connect_done; }));
        REQUIRE_FALSE(p.connect_error);
        return p;
    }
};

// Every connection's end: connection_lost once and last, with its Transport usable in the
// call (is_closing() true, not reading, the same fd), and a few more iterations bring nothing.
void check_ended_once(Reactor& loop, const Probe& p) {
    run_idle(loop, 3);
    CAPTURE(trace_of(p));
    CHECK(p.lost == 1);
    CHECK(p.after_lost == 0);
    CHECK(p.data_not_reading == 0);
    CHECK(p.closing_in_lost);
    CHECK_FALSE(p.reading_in_lost);
    CHECK(p.fd_in_lost);
    CHECK(p.transport == nullptr);
    REQUIRE_FALSE(p.trace.empty());
    CHECK(p.trace.front() == "made");
    CHECK(p.trace.back() == "lost");
}

// SIGPIPE at its default action (death) for the scope: a send without MSG_NOSIGNAL to a
// peer that is gone would then kill this program and fail the run. Set explicitly because a
// runner may hand down SIG_IGN (Python, hence meson, ignores SIGPIPE, and exec keeps that).
class SigpipeDefault {
public:
    SigpipeDefault() {
        struct sigaction sa {};
        sa.sa_handler = SIG_DFL;
        sigemptyset(&sa.sa_mask);
        ::sigaction(SIGPIPE, &sa, &old_);
    }
    ~SigpipeDefault() { ::sigaction(SIGPIPE, &old_, nullptr); }
    SigpipeDefault(const SigpipeDefault&) = delete;
    SigpipeDefault& operator=(const SigpipeDefault&) = delete;

private:
    struct sigaction old_ {};
};

std::size_t open_fds() { return iomux::tools::open_fds(::getpid()); }

// With this on the transport's socket and kSmallWindow on its peer, the kernel holds a few
// hundred KiB of a write at most: a write of a few MiB to a peer not reading is certain to
// leave most of it in the transport's buffer, whatever loopback's autotuning would allow.
constexpr int kSmallWindow = 64 * 1024;
void small_send_buffer(Transport& t) {
    REQUIRE(::setsockopt(t.fd(), SOL_SOCKET, SO_SNDBUF, &kSmallWindow, sizeof kSmallWindow) == 0);
}

}  // namespace

// --- 1 ---------------------------------------------------------------------------------

TEST_CASE("1 MiB arrives byte-exact through create_server and create_connection, both ways") {
    Rig rig;
    const std::string data = pattern(1 * MiB);

    SUBCASE("client to server, echoed back") {
        rig.probes.setup = echo;
        rig.listen();
        Probe& client = rig.connect([&](Probe& p) { p.on_made = [&](Transport& t) { t.write(data); }; });
        CHECK(rig.until([&] { return client.received.size() >= data.size(); }));
        CHECK(diff(client.received, data) == "");
        Probe& server = rig.served();
        CHECK(diff(server.received, data) == "");
        client.t().close();
        CHECK(rig.until([&] { return client.lost > 0 && server.lost > 0; }));
        check_ended_once(rig.loop, client);
        check_ended_once(rig.loop, server);
        CHECK_FALSE(client.error);
        CHECK_FALSE(server.error);
    }
    SUBCASE("server to client from connection_made; close() right after flushes it all first") {
        rig.probes.setup = [&](Probe& p) {
            p.on_made = [&](Transport& t) {
                small_send_buffer(t);
                t.write(data);
                CHECK(t.write_buffer_size() > 0);  // so that close() has something to flush
                t.close();
            };
        };
        rig.listen();
        Probe& client = rig.connect();
        CHECK(rig.until_ended(client));
        CHECK(diff(client.received, data) == "");
        CHECK(client.eofs == 1);
        CHECK(trace_of(client) == "made data eof lost");
        CHECK_FALSE(client.error);
        Probe& server = rig.served();
        CHECK(rig.until_ended(server));
        check_ended_once(rig.loop, client);
        check_ended_once(rig.loop, server);
        CHECK_FALSE(server.error);
    }
}

// --- 2 ---------------------------------------------------------------------------------

TEST_CASE("one write far larger than the socket buffers returns at once, buffers the rest, and all of it arrives") {
    Rig rig;
    RawListener listener;
    Probe& client = rig.connect({}, {}, "127.0.0.1", listener.port);
    RawPeer peer = RawPeer::adopt(listener.accept());
    REQUIRE(rig.until([&] { return client.made == 1; }));
    Transport& t = client.t();

    const std::string data = pattern(8 * MiB, 2);
    const auto t0 = Clock::now();
    t.write(data);
    CHECK(ms_since(t0) < 2000);  // a copy into the buffer, not a wait for the peer
    CHECK(t.write_buffer_size() > 0);
    CHECK(t.write_buffer_size() <= data.size());
    run_idle(rig.loop, 3);  // the peer does not read yet: the rest stays with us
    CHECK(t.write_buffer_size() > 0);

    CHECK(rig.until([&] {
        peer.pump();
        return peer.got.size() >= data.size() && t.write_buffer_size() == 0;
    }));
    CHECK(diff(peer.got, data) == "");
    CHECK(t.write_buffer_size() == 0);
    t.close();
    CHECK(rig.until_closed(peer));
    CHECK(peer.eof);
    CHECK(peer.got.size() == data.size());
    CHECK(rig.until_ended(client));
    check_ended_once(rig.loop, client);
    CHECK_FALSE(client.error);
}

// --- 3 ---------------------------------------------------------------------------------

TEST_CASE("pause_writing and resume_writing: exactly one of each per crossing of the water marks") {
    Rig rig;
    rig.listen();
    RawPeer peer = rig.raw_client(4096);  // a small window: the kernel holds little of ours
    Probe& p = rig.served();
    Transport& t = p.t();
    const int sndbuf = 4096;
    REQUIRE(::setsockopt(t.fd(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) == 0);
    constexpr std::size_t high = 64 * KiB, low = 16 * KiB;
    t.set_write_buffer_limits(high, low);
    std::vector<std::size_t> buffered_at_resume;
    p.on_resume = [&](Transport& tr) { buffered_at_resume.push_back(tr.write_buffer_size()); };

    std::string sent;
    std::uint32_t seed = 100;
    auto write_chunk = [&] {
        const std::string chunk = pattern(16 * KiB, ++seed);
        sent += chunk;
        t.write(chunk);
    };
    for (int round = 1; round <= 2; ++round) {
        CAPTURE(round);
        for (int writes = 0; t.write_buffer_size() <= high && writes < 1000; ++writes) {
            CHECK(p.pauses == round - 1);
            write_chunk();
        }
        REQUIRE(t.write_buffer_size() > high);
        CHECK(p.pauses == round);  // from inside the write() that crossed
        write_chunk();             // further above the mark: no second pause
        write_chunk();
        CHECK(p.pauses == round);
        CHECK(p.resumes == round - 1);
        CHECK(rig.until([&] {
            peer.pump();
            return t.write_buffer_size() == 0;
        }));
        CHECK(p.resumes == round);
        CHECK(p.pauses == round);
    }
    REQUIRE(buffered_at_resume.size() == 2);
    for (const std::size_t b : buffered_at_resume) CHECK(b <= low);
    std::vector<std::string> flow;
    for (const auto& e : p.trace)
        if (e == "pause" || e == "resume") flow.push_back(e);
    CHECK(fmt::format("{}", fmt::join(flow, " ")) == "pause resume pause resume");
    CHECK(rig.until([&] {
        peer.pump();
        return peer.got.size() >= sent.size();
    }));
    CHECK(diff(peer.got, sent) == "");
}

TEST_CASE("set_write_buffer_limits: asyncio's defaults and derivations, ValueError for high < low, applied at once") {
    Rig rig;
    rig.listen();
    RawPeer peer = rig.raw_client(kSmallWindow);
    Probe& p = rig.served();
    Transport& t = p.t();
    small_send_buffer(t);
    auto check_limits = [&](std::size_t low, std::size_t high) {
        const auto [l, h] = t.get_write_buffer_limits();
        CHECK(l == low);
        CHECK(h == high);
    };
    check_limits(16384, 65536);
    CHECK_THROWS_AS(t.set_write_buffer_limits(100, 200), iomux::ValueError);
    check_limits(16384, 65536);  // a refused call changes nothing
    CHECK_THROWS_AS(t.set_write_buffer_limits(std::size_t{5} << 32), iomux::ValueError);
    CHECK_THROWS_AS(t.set_write_buffer_limits(std::nullopt, std::size_t{1} << 31), iomux::ValueError);  // high = 8 GiB
    t.set_write_buffer_limits(1000);
    check_limits(250, 1000);
    t.set_write_buffer_limits(std::nullopt, 300);
    check_limits(300, 1200);
    t.set_write_buffer_limits(500, 500);
    check_limits(500, 500);
    t.set_write_buffer_limits();
    check_limits(16384, 65536);

    // With a full buffer, new marks take effect at once, in either direction.
    t.write(pattern(1 * MiB, 3));
    REQUIRE(t.write_buffer_size() > 65536);
    CHECK(p.pauses == 1);
    t.set_write_buffer_limits(64 * MiB, 32 * MiB);
    CHECK(p.resumes == 1);
    t.set_write_buffer_limits(1, 0);
    CHECK(p.pauses == 2);
    CHECK(p.resumes == 1);
}

// --- 4 ---------------------------------------------------------------------------------

TEST_CASE("pause_reading: no data_received until resume_reading, then every byte in order, on edge-triggered too") {
    Rig rig;

    SUBCASE("paused in connection_made; data and EOF wait in the kernel, no new edge comes") {
        rig.probes.setup = [](Probe& p) { p.on_made = [](Transport& t) { t.pause_reading(); }; };
        rig.listen();
        RawPeer peer = rig.raw_client();
        Probe& p = rig.served();
        CHECK_FALSE(p.t().is_reading());
        peer.send("first bytes");
        run_idle(rig.loop);
        CHECK(p.data == 0);
        p.t().resume_reading();
        CHECK(p.t().is_reading());
        CHECK(rig.until([&] { return p.received == "first bytes"; }));
        CHECK(p.received == "first bytes");

        p.t().pause_reading();
        CHECK_FALSE(p.t().is_reading());
        peer.send(", then more");
        peer.shutdown_write();
        run_idle(rig.loop);
        CHECK(p.received == "first bytes");
        CHECK(p.eofs == 0);
        p.t().resume_reading();
        CHECK(rig.until_ended(p));
        CHECK(p.received == "first bytes, then more");
        CHECK(p.eofs == 1);
        CHECK_FALSE(p.error);
        check_ended_once(rig.loop, p);
    }
    // Paused in every delivery; the test resumes it after iterations that would deliver more.
    auto paused_in_every_delivery = [&](bool buffered, std::size_t size) {
        rig.probes.buffered = buffered;
        rig.probes.setup = [](Probe& p) { p.on_data = [](Transport& t, std::string_view) { t.pause_reading(); }; };
        rig.listen();
        RawPeer peer = rig.raw_client();
        Probe& p = rig.served();
        const std::string data = pattern(size, 4);
        peer.send(data);
        int resumes = 0, early = 0;
        const auto deadline = Clock::now() + kDeadline;
        while (p.received.size() < data.size() && Clock::now() < deadline) {
            peer.flush();
            rig.loop.run_once(10ms);
            if (p.t().is_reading()) continue;
            const std::size_t before = p.received.size();
            peer.flush();
            run_idle(rig.loop, 3);
            if (p.received.size() != before) ++early;
            p.t().resume_reading();
            ++resumes;
        }
        CHECK(early == 0);
        CHECK(p.data_not_reading == 0);  // not even later in the callback that paused
        CHECK(resumes >= 2);
        CHECK(diff(p.received, data) == "");
    };
    SUBCASE("paused in every data_received, resumed from outside: 256 KiB, nothing early, nothing lost") {
        paused_in_every_delivery(false, 256 * KiB);
    }
    SUBCASE("paused in every buffer_updated (100-byte buffer), resumed from outside") {
        paused_in_every_delivery(true, 3000);
    }
    SUBCASE("paused in data_received and resumed within the same iteration (call_soon)") {
        // The reactor then never takes the fd out of the backend, and on epoll-et the edge
        // was spent on the first read: only the transport's resume can bring the rest.
        int soon_resumes = 0;
        rig.probes.setup = [&](Probe& p) {
            p.on_data = [&](Transport& t, std::string_view) {
                t.pause_reading();
                t.loop().call_soon([&t, &p, &soon_resumes] {
                    if (p.lost > 0) return;
                    CHECK_FALSE(t.is_reading());
                    t.resume_reading();
                    ++soon_resumes;
                });
            };
        };
        rig.listen();
        RawPeer peer = rig.raw_client();
        const std::string data = pattern(100 * KiB, 5);  // more than one read takes
        peer.send(data);
        Probe& p = rig.served();
        CHECK(rig.until([&] {
            peer.flush();
            return p.received.size() >= data.size();
        }));
        CHECK(diff(p.received, data) == "");
        CHECK(p.data_not_reading == 0);
        CHECK(soon_resumes >= 2);
    }
}

// --- 5 ---------------------------------------------------------------------------------

TEST_CASE("half-close: write_eof one way, the other way still works, then a clean end") {
    Rig rig;

    SUBCASE("client write_eof; the server's eof_received returns true, and it replies and closes later") {
        rig.probes.setup = [](Probe& p) { p.on_eof = [](Transport&) { return true; }; };
        rig.listen();
        Probe& client = rig.connect([](Probe& p) {
            p.on_made = [](Transport& t) {
                CHECK(t.can_write_eof());
                t.write("request");
                t.write_eof();
            };
        });
        Probe& server = rig.served();
        CHECK(rig.until([&] { return server.eofs == 1; }));
        run_idle(rig.loop);  // true kept it open: nothing ends it meanwhile
        REQUIRE(server.lost == 0);
        CHECK_FALSE(server.t().is_closing());
        CHECK(client.lost == 0);
        server.t().write("reply to " + server.received);
        server.t().close();
        CHECK(rig.until([&] { return client.lost > 0 && server.lost > 0; }));
        CHECK(server.received == "request");
        CHECK(client.received == "reply to request");
        CHECK(trace_of(client) == "made data eof lost");
        CHECK(trace_of(server) == "made data eof lost");
        CHECK_FALSE(client.error);
        CHECK_FALSE(server.error);
        check_ended_once(rig.loop, client);
        check_ended_once(rig.loop, server);
    }
    SUBCASE("server write_eof after writing; the client reads to EOF and then writes to the server") {
        rig.probes.setup = [](Probe& p) {
            p.on_made = [](Transport& t) {
                t.write("from the server");
                t.write_eof();
            };
        };
        rig.listen();
        Probe& client = rig.connect([](Probe& p) {
            p.on_eof = [](Transport& t) {
                t.write("from the client, after EOF");
                t.close();
                return true;
            };
        });
        CHECK(rig.until_ended(client));
        Probe& server = rig.served();
        CHECK(rig.until_ended(server));
        CHECK(client.received == "from the server");
        CHECK(client.eofs == 1);
        CHECK(server.received == "from the client, after EOF");
        CHECK(server.eofs == 1);
        CHECK_FALSE(client.error);
        CHECK_FALSE(server.error);
        check_ended_once(rig.loop, client);
        check_ended_once(rig.loop, server);
    }
    SUBCASE("eof_received returning false closes the transport: no error, the peer sees EOF") {
        rig.listen();
        RawPeer peer = rig.raw_client();
        Probe& p = rig.served();
        peer.send("x");
        peer.shutdown_write();
        CHECK(rig.until_ended(p));
        CHECK(p.received == "x");
        CHECK(trace_of(p) == "made data eof lost");
        CHECK_FALSE(p.error);
        CHECK(rig.until_closed(peer));
        CHECK(peer.eof);
        check_ended_once(rig.loop, p);
    }
}

// --- 6 ---------------------------------------------------------------------------------

TEST_CASE("a peer's reset ends the connection with ECONNRESET, once") {
    Rig rig;
    rig.listen();
    RawPeer peer = rig.raw_client();
    Probe& p = rig.served();
    peer.reset();
    CHECK(rig.until_ended(p));
    CHECK(p.error == std::errc::connection_reset);
    check_ended_once(rig.loop, p);
    CHECK(rig.server->connections() == 0);
}

TEST_CASE("writing to a peer that is gone: EPIPE or ECONNRESET in connection_lost, and no SIGPIPE") {
    const SigpipeDefault sigpipe;
    Rig rig;
    // Not reading: the transport learns the peer is gone from its writes alone.
    rig.probes.setup = [](Probe& p) { p.on_made = [](Transport& t) { t.pause_reading(); }; };
    rig.listen();
    RawPeer peer = rig.raw_client();
    Probe& p = rig.served();
    SUBCASE("the peer closed") {
        peer.fd.reset();
    }
    SUBCASE("the peer reset") {
        peer.reset();
    }
    const std::string chunk(1000, 'w');
    int writes = 0;
    CHECK(rig.until([&] {
        if (p.transport != nullptr && writes < 10000) {
            p.transport->write(chunk);
            ++writes;
        }
        return p.lost > 0;
    }));
    CAPTURE(p.error.message());
    CHECK((p.error == std::errc::broken_pipe || p.error == std::errc::connection_reset));
    check_ended_once(rig.loop, p);
}

// --- 7 ---------------------------------------------------------------------------------

namespace {

enum class Where { connection_made, data_received, eof_received, pause_writing, resume_writing, buffer_updated };
enum class Act { close, abort, write };

const char* name(Where w) {
    switch (w) {
        case Where::connection_made: return "connection_made";
        case Where::data_received: return "data_received";
        case Where::eof_received: return "eof_received";
        case Where::pause_writing: return "pause_writing";
        case Where::resume_writing: return "resume_writing";
        case Where::buffer_updated: return "buffer_updated";
    }
    return "?";
}
const char* name(Act a) {
    switch (a) {
        case Act::close: return "close";
        case Act::abort: return "abort";
        case Act::write: return "write";
    }
    return "?";
}

// The server's protocol does `act` from inside `where`, once; a raw client provokes it.
void act_from_callback(Where where, Act act) {
    const std::string where_name = name(where), act_name = name(act);
    CAPTURE(where_name);
    CAPTURE(act_name);
    Rig rig;
    rig.probes.buffered = where == Where::buffer_updated;
    const std::string marker = "written from inside the callback";
    const bool bulk_first = where == Where::pause_writing || where == Where::resume_writing;
    const std::string bulk = bulk_first ? pattern(2 * MiB, 7) : std::string();
    bool acted = false;
    int delivered_after_end = 0;  // data or EOF after close() / abort() in a callback
    auto at = [&](Where here, Transport& t) {
        const bool input = here == Where::data_received || here == Where::buffer_updated || here == Where::eof_received;
        if (acted && act != Act::write && input) ++delivered_after_end;
        if (here != where || acted) return;
        acted = true;
        switch (act) {
            case Act::close: t.close(); break;
            case Act::abort: t.abort(); break;
            case Act::write: t.write(marker); break;
        }
        if (act != Act::write) CHECK(t.is_closing());
    };
    rig.probes.setup = [&](Probe& p) {
        p.on_made = [&](Transport& t) {
            t.set_write_buffer_limits(64 * KiB, 0);  // resume_writing once all is sent
            at(Where::connection_made, t);
        };
        p.on_data = [&](Transport& t, std::string_view) {
            at(rig.probes.buffered ? Where::buffer_updated : Where::data_received, t);
        };
        p.on_eof = [&](Transport& t) {
            at(Where::eof_received, t);
            return false;
        };
        p.on_pause = [&](Transport& t) { at(Where::pause_writing, t); };
        p.on_resume = [&](Transport& t) { at(Where::resume_writing, t); };
    };
    rig.listen();
    RawPeer peer = rig.raw_client(kSmallWindow);
    Probe& p = rig.served();
    if (bulk_first) small_send_buffer(p.t());
    const int fd = p.fd;
    switch (where) {
        case Where::data_received:
        case Where::buffer_updated: peer.send("ping"); break;
        case Where::eof_received: peer.shutdown_write(); break;
        case Where::pause_writing:
        case Where::resume_writing:
            p.t().write(bulk);  // from the test, not from inside another callback
            CHECK(p.pauses == 1);
            break;
        case Where::connection_made: break;
    }
    CHECK(rig.until([&] {
        peer.pump();
        return acted;
    }));
    const std::string want = bulk + (act == Act::write ? marker : "");
    if (act == Act::write) {
        CHECK(rig.until([&] {
            peer.pump();
            return peer.got.size() >= want.size();
        }));
        if (p.transport != nullptr) p.transport->close();
    }
    CHECK(rig.until([&] { return peer.pump() && p.lost > 0; }));
    CHECK(peer.eof);
    CHECK(peer.error == 0);
    if (act == Act::abort) {
        CHECK(is_prefix(peer.got, bulk));  // the buffer is dropped, what the kernel had arrives
    } else {
        CHECK(diff(peer.got, want) == "");
    }
    CHECK_FALSE(p.error);
    CHECK(delivered_after_end == 0);
    check_ended_once(rig.loop, p);
    CHECK_FALSE(fd_is_open(fd));
}

}  // namespace

TEST_CASE("close(), abort() and write() from inside every callback: one connection_lost, nothing after, the fd closed") {
    for (const Where where : {Where::connection_made, Where::data_received, Where::eof_received, Where::pause_writing,
                              Where::resume_writing, Where::buffer_updated})
        for (const Act act : {Act::close, Act::abort, Act::write}) act_from_callback(where, act);
}

// --- 8 ---------------------------------------------------------------------------------

TEST_CASE("write after close() or abort() does nothing; write after write_eof() throws std::logic_error") {
    Rig rig;
    rig.listen();
    RawPeer peer = rig.raw_client();
    Probe& p = rig.served();
    Transport& t = p.t();
    const std::array<std::string_view, 2> parts{"after", "the end"};

    SUBCASE("close") {
        t.write("before");
        t.close();
        // Readiness sent "before" at once; completion I/O has it in flight until the next wait.
        const std::size_t flushing = t.write_buffer_size();
        CHECK(flushing == (completion_path(t) ? 6u : 0u));
        CHECK_NOTHROW(t.write("after"));
        CHECK_NOTHROW(t.writev(parts));
        CHECK(t.write_buffer_size() == flushing);
        CHECK(rig.until_closed(peer));
        CHECK(peer.got == "before");
        CHECK(peer.eof);
    }
    SUBCASE("abort") {
        t.write("before");  // taken by the kernel at once: abort cannot drop it
        t.abort();
        CHECK_NOTHROW(t.write("after"));
        CHECK_NOTHROW(t.writev(parts));
        CHECK(t.write_buffer_size() == 0);
        CHECK(rig.until_closed(peer));
        CHECK(peer.got == "before");
        CHECK(peer.eof);
    }
    SUBCASE("write_eof, and reading goes on") {
        t.write("before");
        t.write_eof();
        CHECK_THROWS_AS(t.write("after"), std::logic_error);
        CHECK_THROWS_AS(t.writev(parts), std::logic_error);
        CHECK(rig.until_closed(peer));
        CHECK(peer.got == "before");
        CHECK(peer.eof);
        peer.send("still heard");
        CHECK(rig.until([&] { return p.received == "still heard"; }));
        peer.fd.reset();
    }
    CHECK(rig.until_ended(p));
    CHECK_FALSE(p.error);
    check_ended_once(rig.loop, p);
}

// --- 9 ---------------------------------------------------------------------------------

TEST_CASE("connection_lost exactly once in every path, from the loop, last, with the Transport still valid") {
    enum class End { close, abort, close_then_abort, buffered_close_then_abort, buffered_close_then_peer_reset,
                     peer_eof, peer_reset, exception, write_eof_then_peer_eof, close_clients, server_destroyed };
    for (const End end : {End::close, End::abort, End::close_then_abort, End::buffered_close_then_abort,
                          End::buffered_close_then_peer_reset, End::peer_eof, End::peer_reset, End::exception,
                          End::write_eof_then_peer_eof, End::close_clients, End::server_destroyed}) {
        CAPTURE(static_cast<int>(end));
        Rig rig;
        bool throw_now = false;
        rig.probes.setup = [&](Probe& p) {
            p.on_data = [&](Transport&, std::string_view) {
                if (throw_now) throw std::runtime_error("thrown by data_received");
            };
            // Still usable here: writing does nothing once the connection is ending.
            p.on_lost = [](Transport& t, std::error_code) { CHECK_NOTHROW(t.write("in connection_lost")); };
        };
        rig.listen();
        RawPeer peer = rig.raw_client(kSmallWindow);
        Probe& p = rig.served();
        Transport& t = p.t();
        small_send_buffer(t);
        switch (end) {
            case End::close: t.close(); break;
            case End::abort: t.abort(); break;
            case End::close_then_abort:
                t.close();
                t.abort();
                t.close();
                break;
            case End::buffered_close_then_abort:
                t.write(pattern(2 * MiB, 8));
                REQUIRE(t.write_buffer_size() > 0);
                t.close();
                run_idle(rig.loop, 2);
                CHECK(p.lost == 0);  // still flushing to a peer that does not read
                t.abort();
                break;
            case End::buffered_close_then_peer_reset:
                t.write(pattern(2 * MiB, 9));
                REQUIRE(t.write_buffer_size() > 0);
                t.close();
                run_idle(rig.loop, 2);
                peer.reset();
                break;
            case End::peer_eof: peer.fd.reset(); break;
            case End::peer_reset: peer.reset(); break;
            case End::exception:
                rig.expect_exceptions = true;
                throw_now = true;
                peer.send("boom");
                break;
            case End::write_eof_then_peer_eof:
                p.on_lost = {};  // write after write_eof throws, even here
                t.write_eof();
                peer.shutdown_write();
                break;
            case End::close_clients: rig.server->close_clients(); break;
            case End::server_destroyed: rig.server.reset(); break;
        }
        CHECK(p.lost == 0);  // never from inside the call that ended it
        CHECK(rig.until_ended(p));
        check_ended_once(rig.loop, p);
        if (rig.server) CHECK(rig.server->connections() == 0);
        if (peer.fd) CHECK(rig.until_closed(peer));
    }
}

TEST_CASE("once the connection is over, connection_lost is the only callback left: also for set_write_buffer_limits") {
    // pause_writing / resume_writing from set_write_buffer_limits ("applied at once") must
    // stop where the ones from write() and flushing stop: at abort(), a failure, a callback
    // that threw, and inside connection_lost ("every other call is harmless at any time").
    Rig rig;
    rig.listen();
    RawPeer peer = rig.raw_client(kSmallWindow);
    Probe& p = rig.served();
    Transport& t = p.t();
    small_send_buffer(t);
    const std::string bulk = pattern(2 * MiB, 16);

    SUBCASE("abort() in a pause_writing that write() caused") {
        p.on_pause = [](Transport& tr) { tr.abort(); };
        t.write(bulk);
    }
    SUBCASE("abort() in a pause_writing that set_write_buffer_limits() caused") {
        t.set_write_buffer_limits(64 * MiB);
        t.write(bulk);
        REQUIRE(p.pauses == 0);
        p.on_pause = [](Transport& tr) { tr.abort(); };
        t.set_write_buffer_limits(1024);
    }
    SUBCASE("an exception from a pause_writing that set_write_buffer_limits() caused") {
        rig.expect_exceptions = true;
        t.set_write_buffer_limits(64 * MiB);
        t.write(bulk);
        p.on_pause = [](Transport&) { throw std::runtime_error("thrown by pause_writing"); };
        t.set_write_buffer_limits(1024);
        CHECK(rig.exceptions.size() == 1);
        CHECK(rig.until_ended(p));
        CHECK(p.error == std::errc::connection_aborted);
    }
    SUBCASE("set_write_buffer_limits() inside connection_lost, after abort() while paused") {
        t.write(bulk);
        REQUIRE(p.pauses == 1);
        p.on_lost = [](Transport& tr, std::error_code) { tr.set_write_buffer_limits(); };
        t.abort();
    }
    CHECK(rig.until_ended(p));
    CHECK(p.pauses == 1);
    CHECK(p.resumes == 0);
    CHECK(trace_of(p) == "made pause lost");
    check_ended_once(rig.loop, p);
}

TEST_CASE("set_write_buffer_limits() inside connection_lost(ECANCELED), with bytes still buffered: no pause_writing") {
    Probe p;
    p.on_lost = [](Transport& t, std::error_code) { t.set_write_buffer_limits(1); };
    RawListener listener;
    {
        Reactor loop;
        iomux::create_connection(
            loop, [&] { return make_protocol(p, false); }, "127.0.0.1", listener.port, [](std::error_code) {});
        RawPeer peer = RawPeer::adopt(listener.accept());
        REQUIRE(run_until(loop, [&] { return p.made == 1; }));
        small_send_buffer(p.t());
        p.t().set_write_buffer_limits(64 * MiB);
        p.t().write(pattern(2 * MiB, 17));
        REQUIRE(p.t().write_buffer_size() > 1);
    }
    CHECK(p.lost == 1);
    CHECK(p.error == std::errc::operation_canceled);
    CHECK(p.pauses == 0);
    CHECK(p.after_lost == 0);
    CHECK(trace_of(p) == "made lost");
}

// --- 10 --------------------------------------------------------------------------------

TEST_CASE("BufferedProtocol: 1 MiB through a 100-byte buffer, byte-exact, never more than the buffer") {
    Rig rig;
    rig.probes.buffered = true;
    rig.probes.setup = [](Probe& p) { p.buffer_size = 100; };
    rig.listen();
    const std::string data = pattern(1 * MiB, 10);
    Probe& client = rig.connect([&](Probe& p) {
        p.on_made = [&](Transport& t) {
            t.write(data);
            t.close();
        };
    });
    Probe& server = rig.served();
    CHECK(rig.until_ended(server));
    CHECK(diff(server.received, data) == "");
    CHECK(server.oversized == 0);
    CHECK(server.get_buffers >= static_cast<int>(data.size() / 100));
    CHECK(server.eofs == 1);
    CHECK_FALSE(server.error);
    check_ended_once(rig.loop, server);
    CHECK(rig.until_ended(client));
    check_ended_once(rig.loop, client);
}

// --- 11 --------------------------------------------------------------------------------

TEST_CASE("writev: parts arrive in order, whole or split by the kernel, and behind what is buffered") {
    Rig rig;
    rig.listen();
    RawPeer peer = rig.raw_client(kSmallWindow);
    Transport& t = rig.served().t();
    small_send_buffer(t);
    std::string want;
    auto writev = [&](const std::vector<std::string>& parts) {
        const std::vector<std::string_view> views(parts.begin(), parts.end());
        for (const auto& s : parts) want += s;
        t.writev(views);
    };
    auto all_arrived = [&] {
        return rig.until([&] {
            peer.pump();
            return peer.got.size() >= want.size();
        });
    };

    writev({"a", "", "bc", "def"});  // nothing buffered: one sendmsg takes it (readiness)
    CHECK(t.write_buffer_size() == (completion_path(t) ? 6u : 0u));  // or one send SQE, in flight
    std::vector<std::string> many;  // more parts than one sendmsg takes
    for (int i = 0; i < 1500; ++i) many.push_back(fmt::format("<{}>", i));
    writev(many);
    CHECK(all_arrived());
    CHECK(diff(peer.got, want) == "");

    // The peer does not read: the kernel takes part of one of these, the rest is queued.
    writev({pattern(3 * MiB, 11), pattern(3 * MiB, 12), "tail", pattern(2 * MiB, 13)});
    CHECK(t.write_buffer_size() > 0);
    writev({"x", "yz", pattern(100 * KiB, 14)});  // behind the queue
    t.write("a write after");
    want += "a write after";
    writev({"and", " the last"});
    CHECK(all_arrived());
    CHECK(diff(peer.got, want) == "");
    CHECK(t.write_buffer_size() == 0);
}

// --- 12 --------------------------------------------------------------------------------

namespace {

struct Tally {
    std::size_t server_made = 0, server_lost = 0, server_errors = 0;
    std::size_t client_made = 0, echoed = 0, client_lost = 0, client_errors = 0, lost_before_echo = 0;
    std::size_t connect_failed = 0, wrong_bytes = 0;
};

class CountingEcho final : public Protocol {
public:
    explicit CountingEcho(Tally& tally) : tally_(tally) {}
    void connection_made(Transport& t) override {
        t_ = &t;
        ++tally_.server_made;
    }
    void data_received(std::string_view data) override { t_->write(data); }
    void connection_lost(std::error_code error) override {
        ++tally_.server_lost;
        if (error) ++tally_.server_errors;
    }

private:
    Tally& tally_;
    Transport* t_ = nullptr;
};

class PingClient final : public Protocol {
public:
    PingClient(Tally& tally, std::size_t i) : tally_(tally), message_(fmt::format("ping {}", i)) {}
    void connection_made(Transport& t) override {
        ++tally_.client_made;
        t.write(message_);
    }
    void data_received(std::string_view data) override {
        got_ += data;
        if (got_ == message_) ++tally_.echoed;
        else if (!std::string_view(message_).starts_with(got_)) ++tally_.wrong_bytes;
    }
    void connection_lost(std::error_code error) override {
        ++tally_.client_lost;
        if (error) ++tally_.client_errors;
        if (got_ != message_) ++tally_.lost_before_echo;
    }

private:
    Tally& tally_;
    std::string message_, got_;
};

}  // namespace

TEST_CASE("11000 connections to one server, each echoed, all counted, all closed") {
    constexpr std::size_t kWanted = 11000;
    const iomux::test::FdLimitGuard limit_guard;
    const rlim_t limit = iomux::test::raise_fd_limit();
    const std::size_t fds_before = open_fds();
    // Two fds per connection (client and server in this process), and room for the rest.
    const std::size_t fit = limit > fds_before + 200 ? (static_cast<std::size_t>(limit) - fds_before - 200) / 2 : 0;
    const std::size_t n = std::min(kWanted, fit);
    if (n < kWanted)
        MESSAGE(fmt::format("RLIMIT_NOFILE allows {} fds: {} connections instead of {}", limit, n, kWanted));
    REQUIRE(n >= 1000);
    {
        Tally tally;
        std::vector<std::string> exceptions;
        Reactor loop;
        loop.set_exception_handler([&](int fd, std::exception_ptr e) {
            exceptions.push_back(fmt::format("fd {}: {}", fd, iomux::describe_exception(e)));
        });
        auto server = iomux::create_server(loop, [&] { return std::make_unique<CountingEcho>(tally); }, "127.0.0.1", 0);
        const std::uint16_t port = server->sockname().port;

        // A few hundred connects in flight at a time: a burst of thousands of SYNs would
        // overflow the backlog and wait out the kernel's 1 s SYN retry.
        constexpr std::size_t kInFlight = 256;
        std::size_t started = 0, max_connections = 0;
        const auto t0 = Clock::now();
        const auto deadline = t0 + 60s;
        auto finished = [&] { return tally.echoed + tally.connect_failed + tally.lost_before_echo; };
        while (finished() < n && Clock::now() < deadline) {
            while (started < n && started - finished() < kInFlight) {
                const std::size_t i = started++;
                iomux::create_connection(
                    loop, [&tally, i] { return std::make_unique<PingClient>(tally, i); }, "127.0.0.1", port,
                    [&tally](std::error_code error) {
                        if (error) ++tally.connect_failed;
                    });
            }
            loop.run_once(10ms);
            max_connections = std::max(max_connections, server->connections());
        }
        const double connect_ms = ms_since(t0);
        CHECK(tally.echoed == n);
        CHECK(tally.connect_failed == 0);
        CHECK(tally.wrong_bytes == 0);
        CHECK(tally.lost_before_echo == 0);
        CHECK(tally.server_made == n);
        CHECK(server->connections() == n);
        CHECK(max_connections == n);
        CHECK(server->stats().accepted == n);

        server->close_clients();
        const auto t1 = Clock::now();
        CHECK(run_until(loop, [&] { return server->connections() == 0 && tally.client_lost == n && loop.owned().size() == 0; }, 30s));
        MESSAGE(fmt::format("{} connections echoed in {:.0f} ms, closed in {:.0f} ms ({})", n, connect_ms, ms_since(t1),
                            loop.backend()));
        CHECK(server->connections() == 0);
        CHECK(tally.server_lost == n);
        CHECK(tally.client_lost == n);
        CHECK(tally.server_errors == 0);
        CHECK(tally.client_errors == 0);
        CHECK(loop.owned().size() == 0);
        CHECK(exceptions.empty());
    }
    CHECK(open_fds() == fds_before);
}

// --- 13 --------------------------------------------------------------------------------

namespace {

// The lowest soft limit under which exactly `slots` fd numbers are free.
rlim_t limit_leaving(int slots) {
    int free = 0;
    for (int fd = 0;; ++fd)
        if (!fd_is_open(fd) && ++free == slots) return static_cast<rlim_t>(fd) + 1;
}

}  // namespace

TEST_CASE("out of fds (EMFILE): the server sheds connections it cannot serve, does not spin, and serves again") {
    constexpr int kClients = 6;
    constexpr int kFreeSlots = 2;
    Rig rig;
    rig.probes.setup = echo;
    rig.listen();
    // The clients' sockets exist before the limit drops: connecting needs no new fd.
    std::vector<UniqueFd> sockets;
    for (int i = 0; i < kClients; ++i) sockets.push_back(tcp_socket());
    std::vector<RawPeer> clients;
    {
        const iomux::test::FdLimitGuard restore;
        rlimit rl{};
        REQUIRE(::getrlimit(RLIMIT_NOFILE, &rl) == 0);
        rl.rlim_cur = limit_leaving(kFreeSlots);
        REQUIRE(::setrlimit(RLIMIT_NOFILE, &rl) == 0);
        for (auto& s : sockets) {
            REQUIRE(connect_blocking(s.get(), rig.port()) == 0);
            clients.push_back(RawPeer::adopt(std::move(s)));
        }
        // Each client is served (echoed) or shed (closed at once), none left hanging.
        for (auto& c : clients) c.send("hello");
        int served = 0, shed = 0;
        CHECK(rig.until([&] {
            served = shed = 0;
            for (auto& c : clients) {
                const bool ended = c.pump();
                if (c.got == "hello") ++served;
                else if (ended) ++shed;
            }
            return served + shed == kClients;
        }));
        const auto& stats = rig.server->stats();
        CHECK(served == kFreeSlots);
        CHECK(shed == kClients - kFreeSlots);
        CHECK(stats.accepted == static_cast<std::uint64_t>(served));
        // Every shed client when the kernel enforces the limit; under valgrind, which emulates
        // it, accept() itself closes what it got past the limit, and only the rest is shed.
        CHECK(stats.shed >= 1);
        CHECK(stats.shed <= static_cast<std::uint64_t>(shed));

        // Idle now: a loop that spun on the listener would run hundreds of iterations here.
        const auto iterations0 = rig.loop.stats().iterations;
        const auto t0 = Clock::now();
        while (Clock::now() - t0 < 300ms) rig.loop.run_once(50ms);
        const auto iterations = rig.loop.stats().iterations - iterations0;
        MESSAGE(fmt::format("{} iterations in 300 ms at the fd limit; shed {}, pauses {}", iterations, stats.shed,
                            stats.pauses));
        CHECK(iterations <= 20);
    }
    // The limit is back: a new client is served.
    RawPeer late = rig.raw_client();
    late.send("after the limit");
    CHECK(rig.until([&] {
        late.pump();
        return late.got == "after the limit";
    }));
    CHECK(late.got == "after the limit");
}

// --- 14 --------------------------------------------------------------------------------

TEST_CASE("create_connection: success, refused, timeout, unresolvable; on_done always from the loop") {
    Rig rig;

    SUBCASE("success: connection_made first, then on_done without error") {
        rig.listen();
        Probe& c = rig.connect();
        CHECK_FALSE(c.connect_done);
        CHECK(rig.until([&] { return c.connect_done; }));
        CHECK_FALSE(c.connect_error);
        CHECK(c.made_when_done == 1);
        CHECK(c.factory_calls == 1);
        CHECK_FALSE(c.done_inside_call);
        c.t().close();
        CHECK(rig.until_ended(c));
        check_ended_once(rig.loop, c);
    }
    SUBCASE("refused: ECONNREFUSED, and no protocol is made") {
        Probe& c = rig.connect({}, {}, "127.0.0.1", unused_port());
        CHECK(rig.until([&] { return c.connect_done; }));
        CHECK(c.connect_error == std::errc::connection_refused);
        CHECK(c.factory_calls == 0);
        CHECK(c.made == 0);
        CHECK_FALSE(c.done_inside_call);
    }
    SUBCASE("a listener that never accepts: ETIMEDOUT after the timeout") {
        // listen(fd, 0): the accept queue holds one; filled, the kernel drops further SYNs.
        RawListener never(0);
        std::vector<UniqueFd> fillers;
        for (int i = 0; i < 3; ++i) {
            UniqueFd s = tcp_socket();
            set_nonblocking(s.get());
            const sockaddr_in addr = loopback(never.port);
            ::connect(s.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);  // EINPROGRESS
            fillers.push_back(std::move(s));
        }
        const auto t0 = Clock::now();
        Probe& c = rig.connect({}, {.timeout = 200ms}, "127.0.0.1", never.port);
        CHECK(rig.until([&] { return c.connect_done; }, 3s));
        const double ms = ms_since(t0);
        CHECK(c.connect_error == std::errc::timed_out);
        CHECK(ms >= 190);
        CHECK(ms < 3000);
        CHECK(c.factory_calls == 0);
        CHECK_FALSE(c.done_inside_call);
    }
    SUBCASE("a name that does not resolve: a resolve_category() (or system) error") {
        Probe& c = rig.connect({}, {}, "no-such-host.invalid", 80);
        CHECK_FALSE(c.connect_done);
        CHECK(rig.until([&] { return c.connect_done; }));
        REQUIRE(c.connect_error);
        CAPTURE(c.connect_error.message());
        CHECK((c.connect_error.category() == iomux::resolve_category() ||
               c.connect_error.category() == std::system_category()));
        CHECK(c.factory_calls == 0);
        CHECK_FALSE(c.done_inside_call);
    }
    CHECK(rig.loop.owned().size() == 0);
}

// --- 15 --------------------------------------------------------------------------------

TEST_CASE("Server max_connections: the next client waits in the backlog until one ends") {
    Rig rig;
    rig.probes.setup = echo;
    rig.listen({.max_connections = 2});
    RawPeer a = rig.raw_client();
    RawPeer b = rig.raw_client();
    RawPeer c = rig.raw_client();  // the kernel completes it; the server must not take it yet
    rig.served(1);
    run_idle(rig.loop);
    CHECK(rig.probes.all.size() == 2);
    CHECK(rig.server->connections() == 2);
    c.send("third");
    run_idle(rig.loop);
    CHECK(c.got.empty());

    a.fd.reset();
    Probe& third = rig.served(2);
    CHECK(rig.until_ended(rig.probes.all[0]));
    CHECK(rig.until([&] {
        c.pump();
        return c.got == "third";
    }));
    CHECK(third.received == "third");
    CHECK(rig.server->connections() == 2);
    check_ended_once(rig.loop, rig.probes.all[0]);
}

TEST_CASE("Server::close() stops accepting; open connections go on") {
    Rig rig;
    rig.probes.setup = echo;
    rig.listen();
    const std::uint16_t port = rig.port();
    RawPeer open = rig.raw_client();
    Probe& p = rig.served();
    rig.server->close();
    rig.server->close();  // idempotent
    CHECK_FALSE(rig.server->is_serving());
    CHECK_THROWS_AS((void)rig.server->sockname(), std::system_error);
    // Refused; or, where the backend still holds the closed listener until the next
    // iteration (io_uring's poll keeps a reference to the file), ended unserved.
    RawPeer late;
    late.fd = tcp_socket();
    const int connected = connect_blocking(late.fd.get(), port);
    if (connected == 0) {
        MESSAGE(fmt::format("{}: a connect right after Server::close() was completed by the kernel", rig.loop.backend()));
        set_nonblocking(late.fd.get());
        CHECK(rig.until_closed(late));
        CHECK(late.got.empty());
    } else {
        CHECK(connected == ECONNREFUSED);
    }
    CHECK(rig.probes.all.size() == 1);
    open.send("still served");
    CHECK(rig.until([&] {
        open.pump();
        return open.got == "still served";
    }));
    CHECK(rig.server->connections() == 1);
    open.fd.reset();
    CHECK(rig.until_ended(p));
    check_ended_once(rig.loop, p);
    CHECK(rig.server->connections() == 0);
}

TEST_CASE("Server close_clients() flushes then closes; abort_clients() drops; destroying the Server aborts") {
    Rig rig;
    rig.listen();
    std::vector<RawPeer> peers;
    for (int i = 0; i < 2; ++i) peers.push_back(rig.raw_client(kSmallWindow));
    rig.served(1);
    const std::string data = pattern(2 * MiB, 15);
    for (auto& p : rig.probes.all) {
        small_send_buffer(p.t());
        p.t().write(data);  // the peers do not read yet
        CHECK(p.t().write_buffer_size() > 0);
    }

    SUBCASE("close_clients") {
        rig.server->close_clients();
        CHECK(rig.until([&] { return peers[0].pump() && peers[1].pump(); }));
        for (auto& peer : peers) {
            CHECK(peer.eof);
            CHECK(diff(peer.got, data) == "");
        }
    }
    SUBCASE("abort_clients") {
        rig.server->abort_clients();
        CHECK(rig.until([&] { return rig.server->connections() == 0; }));  // without the peers reading
        CHECK(rig.until([&] { return peers[0].pump() && peers[1].pump(); }));
        for (auto& peer : peers) CHECK(is_prefix(peer.got, data));
    }
    SUBCASE("the Server destroyed") {
        rig.server.reset();
        CHECK(rig.until([&] { return rig.probes.all[0].lost + rig.probes.all[1].lost == 2; }));
        CHECK(rig.until([&] { return peers[0].pump() && peers[1].pump(); }));
        for (auto& peer : peers) CHECK(is_prefix(peer.got, data));
    }
    for (auto& p : rig.probes.all) {
        CHECK(rig.until_ended(p));
        CHECK_FALSE(p.error);
        check_ended_once(rig.loop, p);
    }
    if (rig.server) CHECK(rig.server->connections() == 0);
}

TEST_CASE("destroying the Reactor: open transports get connection_lost(ECANCELED), connects on_done(ECANCELED)") {
    const std::size_t fds_before = open_fds();
    {
        RawListener listener;
        RawListener never(0);
        Probe client, server_side;
        bool pending_done = false;
        std::error_code pending_error;
        std::optional<RawPeer> client_peer, server_peer;
        {
            Reactor loop;
            auto server = iomux::create_server(
                loop, [&] { return make_protocol(server_side, false); }, "127.0.0.1", 0);
            // What connection_lost() does with its transport now must be a no-op: the loop is going away.
            client.on_lost = [](Transport& t, std::error_code) {
                t.write("from connection_lost");
                t.resume_reading();
            };
            iomux::create_connection(
                loop, [&] { return make_protocol(client, false); }, "127.0.0.1", listener.port, [](std::error_code) {});
            client_peer = RawPeer::adopt(listener.accept());
            server_peer = RawPeer::connect_to(server->sockname().port);
            REQUIRE(run_until(loop, [&] { return client.made == 1 && server_side.made == 1; }));

            // A connect that cannot finish: the listener's queue is full.
            std::vector<UniqueFd> fillers;
            for (int i = 0; i < 3; ++i) {
                fillers.push_back(tcp_socket());
                set_nonblocking(fillers.back().get());
                const sockaddr_in addr = loopback(never.port);
                ::connect(fillers.back().get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
            }
            iomux::create_connection(
                loop, [] { return std::unique_ptr<Protocol>(); }, "127.0.0.1", never.port,
                [&](std::error_code error) {
                    pending_done = true;
                    pending_error = error;
                });
            run_idle(loop, 2);
            REQUIRE_FALSE(pending_done);
            // The Server first, as documented; its abort of the connection is never run by
            // this loop, so that connection ends with the loop as well.
            server.reset();
            CHECK(server_side.lost == 0);
        }
        CHECK(client.lost == 1);
        CHECK(client.error == std::errc::operation_canceled);
        CHECK(client.after_lost == 0);
        CHECK(client.transport == nullptr);
        CHECK(client.closing_in_lost);  // the connection is ending: is_closing() must say so
        CHECK_FALSE(client.reading_in_lost);
        CHECK(server_side.lost == 1);
        CHECK(server_side.after_lost == 0);
        CHECK(pending_done);
        CHECK(pending_error == std::errc::operation_canceled);
        CHECK(wait_closed(*client_peer));
        CHECK(client_peer->eof);
        CHECK(client_peer->got.empty());
        CHECK(wait_closed(*server_peer));
    }
    CHECK(open_fds() == fds_before);
}

// --- 16 --------------------------------------------------------------------------------

TEST_CASE("peername and sockname agree on both sides; port 0 is resolved") {
    Rig rig;
    rig.listen();
    const iomux::SocketAddress listening = rig.server->sockname();
    CHECK(listening.host == "127.0.0.1");
    CHECK(listening.port != 0);
    Probe& client = rig.connected();
    Probe& server = rig.served();
    const iomux::SocketAddress client_local = client.t().sockname();
    CHECK(client.t().peername() == listening);
    CHECK(server.t().sockname() == listening);
    CHECK(server.t().peername() == client_local);
    CHECK(client_local.host == "127.0.0.1");
    CHECK(client_local.port != 0);
    CHECK(client_local.port != listening.port);
    CHECK(listening.to_string() == fmt::format("127.0.0.1:{}", listening.port));
}

// --- 17 --------------------------------------------------------------------------------

TEST_CASE("an exception from a protocol callback aborts the connection (ECONNABORTED) and reaches the loop's handler") {
    enum class Thrower { data_received, eof_received, buffer_updated, get_buffer, empty_buffer, connection_lost };
    for (const Thrower where : {Thrower::data_received, Thrower::eof_received, Thrower::buffer_updated,
                                Thrower::get_buffer, Thrower::empty_buffer, Thrower::connection_lost}) {
        CAPTURE(static_cast<int>(where));
        Rig rig;
        rig.expect_exceptions = true;
        rig.probes.buffered =
            where == Thrower::buffer_updated || where == Thrower::get_buffer || where == Thrower::empty_buffer;
        bool armed = false;
        rig.probes.setup = [&](Probe& p) {
            auto boom = [&] {
                if (armed) throw std::runtime_error("boom");
            };
            if (where == Thrower::data_received || where == Thrower::buffer_updated)
                p.on_data = [boom](Transport&, std::string_view) { boom(); };
            if (where == Thrower::eof_received)
                p.on_eof = [boom](Transport&) {
                    boom();
                    return false;
                };
            if (where == Thrower::get_buffer) p.on_get_buffer = boom;
            if (where == Thrower::connection_lost) p.on_lost = [boom](Transport&, std::error_code) { boom(); };
        };
        rig.listen();
        RawPeer peer = rig.raw_client();
        Probe& p = rig.served();
        const int fd = p.fd;
        armed = true;
        if (where == Thrower::empty_buffer) p.buffer_size = 0;
        switch (where) {
            case Thrower::eof_received: peer.shutdown_write(); break;
            case Thrower::connection_lost: p.t().close(); break;
            default: peer.send("x"); break;
        }
        CHECK(rig.until_ended(p));
        CHECK(rig.until([&] { return !rig.exceptions.empty(); }));
        REQUIRE(rig.exceptions.size() == 1);
        CHECK(rig.exceptions[0].first == fd);
        if (where == Thrower::empty_buffer) {
            CHECK(rig.exceptions[0].second.find("empty") != std::string::npos);
        } else {
            CHECK(rig.exceptions[0].second == "boom");
        }
        if (where == Thrower::connection_lost) CHECK_FALSE(p.error);
        else CHECK(p.error == std::errc::connection_aborted);
        check_ended_once(rig.loop, p);
        CHECK(rig.until_closed(peer));
        CHECK_FALSE(fd_is_open(fd));
        CHECK(rig.server->connections() == 0);
    }
}

// --- 18 --------------------------------------------------------------------------------

TEST_CASE("TCP_NODELAY is set on accepted and connected sockets, unless turned off") {
    for (const bool no_delay : {true, false}) {
        CAPTURE(no_delay);
        Rig rig;
        rig.listen({.no_delay = no_delay});
        Probe& client = rig.connect({}, {.no_delay = no_delay});
        REQUIRE(rig.until([&] { return client.connect_done; }));
        Probe& server = rig.served();
        CHECK((get_int_option(server.t().fd(), IPPROTO_TCP, TCP_NODELAY) != 0) == no_delay);
        CHECK((get_int_option(client.t().fd(), IPPROTO_TCP, TCP_NODELAY) != 0) == no_delay);
    }
}

// --- 19: what the completion path (io_uring) must get right, held on every path --------

namespace {

// Sets an environment variable for the scope.
class ScopedEnv {
public:
    ScopedEnv(const char* name, const char* value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;
        ::setenv(name, value, 1);
    }
    ~ScopedEnv() {
        if (old_) ::setenv(name_, old_->c_str(), 1);
        else ::unsetenv(name_);
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
    const char* name_;
    std::optional<std::string> old_;
};

}  // namespace

TEST_CASE("io_path(): completion on io_uring where the kernel allows it, readiness elsewhere or when asked") {
    Reactor loop;
    utsname u{};
    REQUIRE(::uname(&u) == 0);
    int major = 0, minor = 0;
    REQUIRE(std::sscanf(u.release, "%d.%d", &major, &minor) == 2);
    const bool kernel_has_it = major > 6 || (major == 6 && minor >= 1);
    CAPTURE(u.release);
    CHECK(loop.io_path() == (loop.backend() == "io_uring" && kernel_has_it ? "completion" : "readiness"));
    CHECK((loop.completion_io() != nullptr) == (loop.io_path() == "completion"));
    {
        const ScopedEnv env("IOMUX_IO_PATH", "readiness");
        CHECK(Reactor().io_path() == "readiness");
    }
    {
        const ScopedEnv env("IOMUX_IO_PATH", "sideways");
        CHECK_THROWS_AS(Reactor(), iomux::ValueError);
    }
}

TEST_CASE("thousands of connections send at once: the buffer ring runs dry, no byte is lost or reordered") {
    // Every connection is accepted paused, then all resume in one iteration with 16 KiB
    // waiting each: far more than the loop's provided buffers take in one wait.
    constexpr std::size_t kConnections = 3000;
    constexpr std::size_t kBytes = 16 * KiB;
    const iomux::test::FdLimitGuard limit_guard;
    iomux::test::raise_fd_limit();
    Rig rig;
    rig.probes.setup = [](Probe& p) {
        echo(p);
        p.on_made = [](Transport& t) { t.pause_reading(); };
    };
    rig.listen({.backlog = 4096});
    std::vector<RawPeer> peers;
    std::vector<std::string> sent;
    for (std::size_t i = 0; i < kConnections; ++i) {
        peers.push_back(rig.raw_client());
        if (i % 64 == 63) rig.loop.run_once(0ms);  // accept as we go: the backlog is finite
    }
    REQUIRE(rig.until([&] {
        return rig.probes.all.size() == kConnections &&
               std::all_of(rig.probes.all.begin(), rig.probes.all.end(), [](const Probe& p) { return p.made == 1; });
    }));
    run_idle(rig.loop, 3);  // every receive of the completion path cancelled by the pause
    for (std::size_t i = 0; i < kConnections; ++i) {
        sent.push_back(pattern(kBytes, static_cast<std::uint32_t>(i + 1)));
        peers[i].send(sent.back());
    }
    run_idle(rig.loop, 3);
    for (const Probe& p : rig.probes.all) CHECK(p.received.empty());
    for (Probe& p : rig.probes.all) p.t().resume_reading();
    CHECK(rig.until([&] {
        bool all = true;
        for (std::size_t i = 0; i < kConnections; ++i) {
            peers[i].flush();
            peers[i].pump();
            all = all && peers[i].got.size() >= kBytes;
        }
        return all;
    }, 60s));
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < kConnections; ++i) wrong += peers[i].got != sent[i];
    CHECK(wrong == 0);
    for (const Probe& p : rig.probes.all) CHECK(p.data_not_reading == 0);
    if (iomux::CompletionIo* io = rig.loop.completion_io()) {
        MESSAGE(fmt::format("completion path: {} completions, {} receives found no buffer, {} re-armed",
                            io->stats().completions, io->stats().out_of_buffers, io->stats().rearmed));
        CHECK(io->stats().out_of_buffers > 0);
        CHECK(io->stats().rearmed >= io->stats().out_of_buffers);
    }
}

TEST_CASE("pause_reading and resume_reading in every state of the receive") {
    Rig rig;
    SUBCASE("paused in connection_made, before the first byte: nothing until resumed, then all in order") {
        rig.probes.setup = [](Probe& p) { p.on_made = [](Transport& t) { t.pause_reading(); }; };
        rig.listen();
        RawPeer peer = rig.raw_client();
        Probe& p = rig.served();
        const std::string data = pattern(300 * KiB, 7);
        peer.send(data);
        for (int i = 0; i < 20; ++i) {
            peer.flush();
            rig.loop.run_once(5ms);
        }
        CHECK(p.received.empty());
        p.t().resume_reading();
        CHECK(rig.until([&] {
            peer.flush();
            return p.received.size() >= data.size();
        }));
        CHECK(diff(p.received, data) == "");
    }
    SUBCASE("paused and resumed in the same callback, again and again: every byte once, in order") {
        rig.probes.setup = [](Probe& p) {
            p.on_data = [](Transport& t, std::string_view) {
                t.pause_reading();
                t.resume_reading();
                t.pause_reading();
                t.resume_reading();
            };
        };
        rig.listen();
        RawPeer peer = rig.raw_client();
        Probe& p = rig.served();
        const std::string data = pattern(512 * KiB, 8);
        peer.send(data);
        CHECK(rig.until([&] {
            peer.flush();
            return p.received.size() >= data.size();
        }));
        CHECK(diff(p.received, data) == "");
        CHECK(p.data_not_reading == 0);
    }
    SUBCASE("the peer's bytes and FIN arrive while paused: on resume the bytes, then eof_received") {
        rig.probes.setup = [](Probe& p) {
            p.on_made = [](Transport& t) { t.pause_reading(); };
            p.on_eof = [](Transport&) { return false; };
        };
        rig.listen();
        RawPeer peer = rig.raw_client();
        Probe& p = rig.served();
        const std::string data = pattern(40 * KiB, 9);
        peer.send(data);
        REQUIRE(peer.flush());
        peer.shutdown_write();
        run_idle(rig.loop, 10);
        CHECK(p.received.empty());
        CHECK(p.eofs == 0);
        p.t().resume_reading();
        CHECK(rig.until_ended(p));
        CHECK(p.received == data);
        CHECK(p.eofs == 1);
        CHECK_FALSE(p.error);
        CAPTURE(trace_of(p));
        CHECK(trace_of(p) == "made data eof lost");
        CHECK(rig.until_closed(peer));
    }
    SUBCASE("paused, then closed while paused: no data after close, a clean end") {
        rig.probes.setup = [](Probe& p) { p.on_made = [](Transport& t) { t.pause_reading(); }; };
        rig.listen();
        RawPeer peer = rig.raw_client();
        Probe& p = rig.served();
        peer.send(pattern(64 * KiB, 10));
        run_idle(rig.loop, 5);
        p.t().close();
        CHECK(rig.until_ended(p));
        CHECK(p.received.empty());
        check_ended_once(rig.loop, p);
    }
}

TEST_CASE("abort with a send and a receive in flight: connection_lost at once, nothing used after it") {
    Rig rig;
    rig.listen();
    RawPeer peer = rig.raw_client(kSmallWindow);
    Probe& p = rig.served();
    Transport& t = p.t();
    small_send_buffer(t);
    const std::string big = pattern(4 * MiB, 11);
    t.write(big);  // far more than the kernel takes: a send stays in flight
    run_idle(rig.loop, 5);
    CHECK(t.write_buffer_size() > 0);
    const std::size_t owned = rig.loop.owned().size();
    t.abort();
    CHECK(t.write_buffer_size() == 0);
    CHECK(rig.until_ended(p));
    CHECK_FALSE(p.error);
    check_ended_once(rig.loop, p);
    // The transport goes once the kernel has completed its cancelled requests.
    CHECK(rig.until([&] { return rig.loop.owned().size() == owned - 1; }));
    CHECK(rig.until_closed(peer));
    CHECK(peer.got.size() < big.size());
    CHECK(is_prefix(peer.got, big));
}
