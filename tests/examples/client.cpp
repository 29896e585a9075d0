#include "tests/examples/client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <exception>
#include <stdexcept>
#include <system_error>
#include <thread>

#include <fmt/format.h>

namespace iomux::test {
namespace {

[[noreturn]] void fail(const char* what) { throw std::system_error(errno, std::generic_category(), what); }

void set_int(int fd, int option, int value) {
    if (::setsockopt(fd, SOL_SOCKET, option, &value, sizeof value) != 0) fail("setsockopt");
}

}  // namespace

UniqueFd connect_to(std::uint16_t port, const ClientOptions& options) {
    UniqueFd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!sock) fail("socket");
    if (options.rcvbuf > 0) set_int(sock.get(), SO_RCVBUF, options.rcvbuf);
    if (options.sndbuf > 0) set_int(sock.get(), SO_SNDBUF, options.sndbuf);
    const auto ms = options.timeout.count();
    const timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>(ms % 1000 * 1000)};
    if (::setsockopt(sock.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
        ::setsockopt(sock.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0)
        fail("socket timeouts");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    while (::connect(sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
        if (errno != EINTR) fail("connect");
    return sock;
}

void send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail(errno == EAGAIN ? "send timed out" : "send");
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
}

Outcome try_recv(int fd, std::string& out, std::size_t n) {
    char buf[65536];
    for (;;) {
        const ssize_t got = ::recv(fd, buf, std::min(n, sizeof buf), 0);
        if (got > 0) {
            out.append(buf, static_cast<std::size_t>(got));
            return Outcome::data;
        }
        if (got == 0) return Outcome::eof;
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return Outcome::timeout;
        if (errno == ECONNRESET) return Outcome::reset;
        fail("recv");
    }
}

std::string recv_exact(int fd, std::size_t n) {
    std::string out;
    while (out.size() < n) {
        switch (try_recv(fd, out, n - out.size())) {
        case Outcome::data: break;
        case Outcome::eof: throw std::runtime_error(fmt::format("end of stream after {} of {} bytes", out.size(), n));
        case Outcome::reset: throw std::runtime_error(fmt::format("reset after {} of {} bytes", out.size(), n));
        case Outcome::timeout: throw std::runtime_error(fmt::format("timed out after {} of {} bytes", out.size(), n));
        }
    }
    return out;
}

std::string echo_through(int fd, const std::string& data) {
    std::exception_ptr write_error;  // an exception must not leave a thread: std::terminate
    std::thread writer([&] {
        try {
            send_all(fd, data);
        } catch (...) {
            write_error = std::current_exception();
        }
    });
    std::string back;
    try {
        back = recv_exact(fd, data.size());
    } catch (...) {
        ::shutdown(fd, SHUT_RDWR);  // unblock the writer
        writer.join();
        throw;
    }
    writer.join();
    if (write_error) std::rethrow_exception(write_error);
    return back;
}

std::string recv_all(int fd, std::size_t limit) {
    std::string out;
    for (;;) {
        switch (try_recv(fd, out, 65536)) {
        case Outcome::data:
            if (out.size() > limit) throw std::runtime_error(fmt::format("more than {} bytes", limit));
            break;
        case Outcome::eof: return out;
        case Outcome::reset: throw std::runtime_error(fmt::format("reset after {} bytes", out.size()));
        case Outcome::timeout: throw std::runtime_error(fmt::format("timed out after {} bytes", out.size()));
        }
    }
}

void close_with_reset(UniqueFd sock) {
    const linger abort{1, 0};
    ::setsockopt(sock.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
    sock.reset();
}

std::string pattern(std::size_t n, std::uint32_t seed) {
    // xorshift32: fast, and no two nearby offsets repeat, so a lost or doubled chunk shows.
    std::string out(n, '\0');
    std::uint32_t x = seed ? seed : 1;
    for (char& c : out) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        c = static_cast<char>(x);
    }
    return out;
}

}  // namespace iomux::test
