#include "load_engine.hpp"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <fmt/format.h>

namespace stress {
namespace {

// IP_BIND_ADDRESS_NO_PORT (Linux 4.2, linux/in.h): bind() then fixes only the address and
// connect() picks the port, unique per 4-tuple. Without it, bind() would pick the port
// alone and every source address would still share one port range. Not in every libc's
// netinet/in.h, hence the number.
constexpr int kIpBindAddressNoPort = 24;

constexpr auto kFirstBackoff = std::chrono::milliseconds(10);
constexpr auto kMaxBackoff = std::chrono::milliseconds(1000);
constexpr std::size_t kReadBuffer = 64 * 1024;

// A refused or reset SYN is usually a server that is not up yet or whose backlog
// overflowed (tcp_abort_on_overflow): worth another try.
bool retryable(int err) noexcept { return err == ECONNREFUSED || err == ECONNRESET || err == ETIMEDOUT; }

ErrorKind connect_kind(int err) noexcept {
    switch (err) {
    case ECONNREFUSED: return ErrorKind::connect_refused;
    case ETIMEDOUT: return ErrorKind::connect_timeout;
    default: return ErrorKind::connect_error;
    }
}

std::string errno_text(int err) {
    std::string text = std::strerror(err);
    if (err == EADDRNOTAVAIL)
        text += " (out of ephemeral ports to this server address: spread the connections with --source-addrs)";
    else if (err == EMFILE || err == ENFILE)
        text += " (out of file descriptors)";
    return text;
}

std::int64_t now_ns() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); }

}  // namespace

sockaddr_in make_address(std::string_view host, std::uint16_t port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    const std::string text = host == "localhost" ? std::string("127.0.0.1") : std::string(host);
    if (::inet_pton(AF_INET, text.c_str(), &addr.sin_addr) != 1)
        throw std::invalid_argument(fmt::format("'{}' is not an IPv4 address", host));
    return addr;
}

LoadEngine::LoadEngine(iomux::Reactor& loop, const EngineConfig& config, Protocol& protocol, Driver& driver)
    : loop_(loop),
      config_(config),
      protocol_(protocol),
      driver_(driver),
      conns_(config.conns),
      buf_(kReadBuffer),
      connect_began_(config.conns) {
    if (config.conns == 0) throw std::invalid_argument("LoadEngine needs at least one connection");
    if (config.connect_window == 0) throw std::invalid_argument("LoadEngine needs a connect window of at least 1");
}

LoadEngine::~LoadEngine() {
    deadline_.cancel();
    rate_timer_.cancel();
    for (Conn& k : conns_) {
        if (config_.abortive_close && k.fd) {
            const linger now{1, 0};
            ::setsockopt(k.fd.get(), SOL_SOCKET, SO_LINGER, &now, sizeof now);
        }
        release(k);
    }
}

void LoadEngine::release(Conn& k) noexcept {
    if (!k.fd) return;
    try {
        if (k.writing) loop_.remove_writer(k.fd.get());
        if (k.reading) loop_.remove_reader(k.fd.get());
    } catch (...) {
        // remove_* fails only if the kernel refuses an epoll_ctl MOD; closing the fd below
        // takes it out of every poller anyway.
    }
    k.writing = k.reading = false;
    k.fd.reset();
}

void LoadEngine::start() {
    started_at_ = Clock::now();
    deadline_ = loop_.call_at(config_.deadline, [this, alive = std::weak_ptr<int>(alive_)] {
        if (!alive.expired()) expire();
    });
    pump();
}

// Starts connects until the window is full: retries first (they have waited longest).
// At most a window's worth per call, even when they complete at once: then the rest
// follows in the next iteration, and the loop (timers, progress, signals) stays responsive.
void LoadEngine::pump() {
    if (pumping_) return;  // begin_connect can fail at once and come back here
    pumping_ = true;
    for (std::uint32_t started = 0; in_flight_ < config_.connect_window && !stopping_; ++started) {
        if (started == config_.connect_window) {
            schedule_pump();
            break;
        }
        std::uint32_t c;
        if (!retry_queue_.empty()) {
            c = retry_queue_.front();
            retry_queue_.pop_front();
        } else if (next_ < size() && !rate_limited()) {
            c = next_++;
            ++fresh_started_;
        } else {
            break;
        }
        begin_connect(c);
    }
    pumping_ = false;
}

void LoadEngine::schedule_pump() {
    if (pump_scheduled_) return;
    pump_scheduled_ = true;
    loop_.call_soon([this, alive = std::weak_ptr<int>(alive_)] {
        if (alive.expired()) return;
        pump_scheduled_ = false;
        pump();
    });
}

void LoadEngine::begin_connect(std::uint32_t c) {
    Conn& k = conns_[c];
    ++k.attempts;
    ++connect_attempts_;
    connect_began_[c] = now_ns();
    k.fd.reset(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!k.fd) return connect_failed(c, errno);
    const int fd = k.fd.get();
    const int one = 1;
    if (config_.nodelay) ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (config_.source_addrs > 0) {
        // Failure is tolerable (pre-4.2 kernel): bind() then picks the port itself.
        ::setsockopt(fd, IPPROTO_IP, kIpBindAddressNoPort, &one, sizeof one);
        sockaddr_in src{};
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + (config_.first_conn + c) % config_.source_addrs);
        if (::bind(fd, reinterpret_cast<const sockaddr*>(&src), sizeof src) != 0) return connect_failed(c, errno);
    }
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&config_.server), sizeof config_.server) != 0 &&
        errno != EINPROGRESS)
        return connect_failed(c, errno);
    k.state = State::connecting;
    ++in_flight_;
    if (config_.check_connect_at_once) {
        // On loopback the whole handshake runs inside connect() (softirq, in our context):
        // it returns EINPROGRESS with the socket established already, or closed when
        // refused. Asking connect() again tells which, in the cheapest syscall that does
        // (0: established; EALREADY: in flight; else the error, which it also clears from
        // SO_ERROR), and saves registering for writability, a wait and two changes of
        // interest. A handshake really in flight waits in the reactor.
        if (::connect(fd, reinterpret_cast<const sockaddr*>(&config_.server), sizeof config_.server) == 0 ||
            errno == EISCONN)
            return opened(c);
        if (errno != EALREADY && errno != EINPROGRESS && errno != EINTR) {
            connect_failed(c, errno);
            return pump();
        }
    }
    try {
        loop_.add_writer(fd, [this, c] { connect_ready(c); });
        k.writing = true;
    } catch (const std::system_error& e) {
        connect_failed(c, e.code().value());
    }
}

void LoadEngine::connect_ready(std::uint32_t c) {
    Conn& k = conns_[c];
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(k.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) {
        connect_failed(c, err);
        return pump();
    }
    opened(c);
}

void LoadEngine::opened(std::uint32_t c) {
    Conn& k = conns_[c];
    --in_flight_;
    k.state = State::open;
    connect_latency_.record(now_ns() - connect_began_[c]);
    const bool reopened = std::exchange(k.reopening, false);
    if (!reopened) ++connected_;
    const int fd = k.fd.get();
    try {
        // Reader first: the reactor then modifies the registration twice instead of
        // dropping it and registering it again. A reopened connection's requests may be
        // awaited by a read pass already: watch it.
        if (!config_.read_on_demand || (reopened && unanswered(k))) watch_reads(c);
        if (k.writing) loop_.remove_writer(fd);
        k.writing = false;
    } catch (const std::system_error& e) {
        // Counted as made (it was), then failed; it still settles its connect.
        fail(c, ErrorKind::io_error, fmt::format("the reactor refused the socket: {}", e.what()));
    }
    if (reopened) {
        if (k.state == State::open) flush(c);
    } else {
        settle();
    }
    pump();
}

// The server ended c (err 0: end of stream; or a reset, which a server that closes with
// requests unread sends) between replies, where the protocol allows that: a new
// connection, with every unanswered request queued again on it. Returns false otherwise.
bool LoadEngine::ended_between_replies(std::uint32_t c, int err) {
    Conn& k = conns_[c];
    if ((err != 0 && err != ECONNRESET && err != EPIPE) || stopping_ || !protocol_.may_reconnect(c, k.stream))
        return false;
    release(k);
    k.stream = ConnStream{0, 0, k.stream.asked - k.stream.answered, 0};
    k.state = State::ended;
    k.reopening = true;
    protocol_.restart(c);
    if (unanswered(k)) reopen(c);
    return true;
}

void LoadEngine::reopen(std::uint32_t c) {
    ++reconnects_;
    conns_[c].state = State::idle;
    conns_[c].attempts = 0;
    retry_queue_.push_back(c);
    schedule_pump();  // not from inside the old socket's callback
}

void LoadEngine::connect_failed(std::uint32_t c, int err) {
    Conn& k = conns_[c];
    if (k.state == State::connecting) --in_flight_;
    release(k);
    k.state = State::idle;
    k.last_errno = static_cast<std::uint16_t>(err);
    if (retryable(err) && k.attempts < config_.connect_attempts && !stopping_) {
        // Exponential, with a spread by connection number so that a window of refused
        // connects does not come back as one burst.
        auto delay = std::min<Clock::duration>(kFirstBackoff * (1u << std::min<unsigned>(k.attempts - 1u, 16u)), kMaxBackoff);
        delay += delay * (c % 8) / 16;
        if (Clock::now() + delay < config_.deadline) {
            k.state = State::backoff;
            loop_.call_later(delay, [this, c, alive = std::weak_ptr<int>(alive_)] {
                if (!alive.expired()) retry(c);
            });
            return;
        }
    }
    fail(c, connect_kind(err), errno_text(err));
    // The first connection to run out of attempts, with none ever made: the server is not
    // there. Say so once, instead of retrying thousands of connections until the deadline.
    if (err == ECONNREFUSED && connected_ == 0 && abort_reason_.empty()) unreachable(err);
}

// --connect-rate: a fresh connect only when the schedule says it is due; a timer wakes the
// pump for the next one.
bool LoadEngine::rate_limited() {
    if (config_.connect_rate <= 0) return false;
    const double due = config_.connect_rate * std::chrono::duration<double>(Clock::now() - started_at_).count() + 1;
    if (static_cast<double>(fresh_started_) < due) return false;
    if (!rate_wait_) {
        rate_wait_ = true;
        const auto wait = std::chrono::duration<double>(static_cast<double>(fresh_started_) / config_.connect_rate) -
                          (Clock::now() - started_at_);
        // Not sooner than a millisecond: the poller's timeouts are whole milliseconds, and a
        // shorter wait spins; what fell due meanwhile starts at once.
        rate_timer_ = loop_.call_later(std::max<Clock::duration>(std::chrono::duration_cast<Clock::duration>(wait),
                                                                 std::chrono::milliseconds(1)),
                                       [this] {
            rate_wait_ = false;
            pump();
        });
    }
    return true;
}

void LoadEngine::retry(std::uint32_t c) {
    Conn& k = conns_[c];
    if (stopping_ || k.state != State::backoff) return;
    k.state = State::idle;
    retry_queue_.push_back(c);
    pump();
}

void LoadEngine::unreachable(int err) {
    abort_reason_ = fmt::format(
        "nothing accepts connections at {}:{}: {} on every one of {} attempts; is the server running?",
        ::inet_ntoa(config_.server.sin_addr), ntohs(config_.server.sin_port), std::strerror(err),
        config_.connect_attempts);
    next_ = size();
    retry_queue_.clear();
    for (std::uint32_t c = 0; c < size(); ++c) {
        const State s = conns_[c].state;
        if (s == State::idle || s == State::connecting || s == State::backoff)
            fail(c, connect_kind(err), "not attempted further: the server is unreachable");
    }
}

void LoadEngine::settle() {
    if (++settled_ < size() || connect_done_) return;
    connect_done_ = true;
    connect_done_at_ = Clock::now();
    // Next iteration: the driver then starts from a clean stack, not from inside a
    // connect callback (or from inside fail()).
    loop_.call_soon([this, alive = std::weak_ptr<int>(alive_)] {
        if (!alive.expired() && !stopping_) driver_.connect_done();
    });
}

void LoadEngine::watch_reads(std::uint32_t c) {
    Conn& k = conns_[c];
    const int fd = k.fd.get();
    loop_.add_reader(fd, [this, c, fd] {
        // A full buffer may have left data behind: another turn. On epoll-et a short read
        // is not enough either: an end of stream or a reset that came in with the data
        // made no edge of its own, so read until EAGAIN (the next turn) there.
        const Read r = read_once(c);
        if ((r == Read::full || (r == Read::data && loop_.edge_triggered())) && conns_[c].state == State::open &&
            conns_[c].fd.get() == fd)
            loop_.keep_ready(fd, iomux::EVENT_READ);
    });
    k.reading = true;
}

bool LoadEngine::receive(std::uint32_t c) {
    Conn& k = conns_[c];
    while (k.state == State::open && !k.reading && unanswered(k)) {
        switch (read_once(c)) {
        case Read::data:
        case Read::full: continue;
        case Read::ended: return false;
        case Read::nothing:
            try {
                watch_reads(c);
            } catch (const std::system_error& e) {
                fail(c, ErrorKind::io_error, fmt::format("the reactor refused the socket: {}", e.what()));
                return false;
            }
            return true;
        }
    }
    return false;
}

// One recv: data (verified and passed on), full (the same, and the buffer was full: there
// may be more), nothing (EAGAIN), or ended (the connection failed: closed, reset,
// mismatch).
LoadEngine::Read LoadEngine::read_once(std::uint32_t c) {
    Conn& k = conns_[c];
    const ssize_t n = ::recv(k.fd.get(), buf_.data(), buf_.size(), 0);
    if (n > 0) {
        const auto got = static_cast<std::size_t>(n);
        ReplyError error;
        const std::int64_t replies = protocol_.check(c, k.stream, {buf_.data(), got}, true, &error);
        if (replies < 0) {
            fail(c, error.kind, error.detail);
            return Read::ended;
        }
        k.stream.received += got;
        k.stream.answered += static_cast<std::uint32_t>(replies);
        bytes_verified_ += got;
        if (replies > 0) driver_.replied(c, static_cast<std::uint32_t>(replies));
        return got == buf_.size() ? Read::full : Read::data;
    }
    if (n == 0) {
        if (ended_between_replies(c, 0)) return Read::ended;
        const bool partial = protocol_.mid_reply(c, k.stream);
        fail(c, partial ? ErrorKind::short_reply : ErrorKind::closed,
             unanswered(k) ? fmt::format("the server closed the connection with {} of {} replies outstanding",
                                         k.stream.asked - k.stream.answered, k.stream.asked)
                           : std::string("the server closed the connection"));
        return Read::ended;
    }
    const int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR) return Read::nothing;
    if (ended_between_replies(c, err)) return Read::ended;
    fail(c, err == ECONNRESET ? ErrorKind::reset : ErrorKind::io_error,
         fmt::format("recv: {}{}", std::strerror(err),
                     unanswered(k) ? fmt::format(" ({} replies outstanding)", k.stream.asked - k.stream.answered) : ""));
    return Read::ended;
}

void LoadEngine::send(std::uint32_t c, std::uint32_t requests) {
    Conn& k = conns_[c];
    if (stopping_ || (k.state != State::open && !k.reopening)) return;
    k.stream.asked += requests;
    if (k.state == State::ended) reopen(c);
    if (k.state == State::open && !k.writing) flush(c);
}

// Writes queued bytes until done or the socket is full; watches writability only while
// something is left.
void LoadEngine::flush(std::uint32_t c) {
    Conn& k = conns_[c];
    const int fd = k.fd.get();
    ConnStream& st = k.stream;
    const std::uint64_t target = protocol_.requests_end(st.asked);
    while (st.sent < target) {
        const std::span<const char> data = protocol_.request(c, st.sent);
        const std::size_t len = std::min<std::uint64_t>(data.size(), target - st.sent);
        if (len == 0) throw std::logic_error("LoadEngine::send: queued past the end of the stream");
        const ssize_t n = ::send(fd, data.data(), len, MSG_NOSIGNAL);
        if (n >= 0) {
            st.sent += static_cast<std::uint64_t>(n);
            bytes_sent_ += static_cast<std::uint64_t>(n);
            if (static_cast<std::size_t>(n) < len) break;  // full: epoll-et reports the next edge
            continue;
        }
        const int err = errno;
        if (err == EINTR) continue;
        if (err == EAGAIN || err == EWOULDBLOCK) break;
        if (ended_between_replies(c, err)) return;
        fail(c, err == EPIPE || err == ECONNRESET ? ErrorKind::reset : ErrorKind::io_error,
             fmt::format("send: {}", std::strerror(err)));
        return;
    }
    const bool more = st.sent < target;
    try {
        if (more && !k.writing) {
            loop_.add_writer(fd, [this, c] { flush(c); });
            k.writing = true;
        } else if (!more && k.writing) {
            loop_.remove_writer(fd);
            k.writing = false;
        }
    } catch (const std::system_error& e) {
        fail(c, ErrorKind::io_error, fmt::format("the reactor refused the socket: {}", e.what()));
    }
}

void LoadEngine::expire() {
    if (stopping_) return;
    stopping_ = expired_ = true;
    for (std::uint32_t c = 0; c < size(); ++c) {
        const Conn& k = conns_[c];
        switch (k.state) {
        case State::idle:
            fail(c, ErrorKind::connect_timeout, "not connected before the deadline (--timeout)");
            break;
        case State::connecting:
            fail(c, ErrorKind::connect_timeout, "the handshake did not complete before the deadline (--timeout)");
            break;
        case State::backoff:
            fail(c, connect_kind(k.last_errno),
                 fmt::format("{}; the deadline cut the retries short", errno_text(k.last_errno)));
            break;
        case State::open:
            if (unanswered(k)) {
                const ErrorKind kind = protocol_.mid_reply(c, k.stream) ? ErrorKind::short_reply : ErrorKind::timeout;
                fail(c, kind,
                     first(kind) ? fmt::format("{} of {} replies, {} of {} request bytes sent and {} reply bytes "
                                               "read when the deadline (--timeout) passed",
                                               k.stream.answered, k.stream.asked, k.stream.sent,
                                               protocol_.requests_end(k.stream.asked), k.stream.received)
                                 : std::string());
            }
            break;
        case State::failed:
        case State::ended:
            break;
        }
    }
    loop_.stop();
}

void LoadEngine::interrupt() {
    if (stopping_) return;
    stopping_ = true;
    if (abort_reason_.empty()) abort_reason_ = "interrupted by a signal";
    for (std::uint32_t c = 0; c < size(); ++c) {
        const Conn& k = conns_[c];
        const bool unfinished = k.state == State::idle || k.state == State::connecting || k.state == State::backoff ||
                                (k.state == State::open && unanswered(k));
        if (unfinished) fail(c, ErrorKind::interrupted, "stopped by a signal");
    }
    deadline_.cancel();
    loop_.stop();
}

void LoadEngine::finish() {
    stopping_ = true;
    deadline_.cancel();
    loop_.stop();
}

void LoadEngine::fail(std::uint32_t c, ErrorKind kind, std::string_view detail) {
    Conn& k = conns_[c];
    if (k.state == State::failed) return;
    errors_.add(kind, [&] { return fmt::format("{}: {}", describe_conn(c), detail); });
    const bool was_open = k.state == State::open || std::exchange(k.reopening, false);
    if (k.state == State::connecting) --in_flight_;
    release(k);
    k.state = State::failed;
    if (was_open)
        driver_.failed(c);
    else
        settle();
}

std::string LoadEngine::describe_conn(std::uint32_t c) const {
    const Conn& k = conns_[c];
    sockaddr_in local{};
    socklen_t len = sizeof local;
    if (k.fd && ::getsockname(k.fd.get(), reinterpret_cast<sockaddr*>(&local), &len) == 0 && local.sin_port != 0)
        return fmt::format("connection {} (from {}:{})", config_.first_conn + c, ::inet_ntoa(local.sin_addr),
                           ntohs(local.sin_port));
    return fmt::format("connection {}", config_.first_conn + c);
}

}  // namespace stress
