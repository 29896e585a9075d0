// http_hello: the material's browser-facing server, made real HTTP/1.1.
//
// The material answers every recv() with a status line and some HTML, with no
// Content-Length and no idea where a request ends. This one:
//  - parses each request head as it arrives, across as many reads as it takes
//    (http/request_parser.hpp), and answers with a Content-Length, so the connection can
//    carry the next request: keep-alive, and pipelining (several requests sent before the
//    first answer; answers go out in order);
//  - answers 400 to a malformed request, 431 to a head over 8 KiB, 408 to a client idle
//    past --idle-timeout, and then closes;
//  - closes after the answer for "Connection: close", and for HTTP/1.0 unless it asked for
//    keep-alive;
//  - closes gracefully: it shuts down its sending side and waits (briefly) for the client
//    to finish, because closing a socket with unread input sends a reset that can destroy
//    the answer before the client reads it.
//
//   http_hello --port 8080 --idle-timeout 30     then: curl http://127.0.0.1:8080/
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <ctime>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "common/acceptor.hpp"
#include "common/listener.hpp"
#include "common/options.hpp"
#include "common/out_buffer.hpp"
#include "http/request_parser.hpp"
#include "poller/unique_fd.hpp"
#include "reactor/reactor.hpp"

namespace {

using namespace std::chrono_literals;
using examples::OutBuffer;
using examples::http::Request;
using examples::http::RequestParser;
using Clock = iomux::Reactor::Clock;

constexpr std::size_t kMaxHead = 8 * 1024;       // request line + headers; more is a 431
constexpr std::size_t kReadBudget = 64 * 1024;   // per read callback, for fairness
constexpr std::size_t kHighWater = 256 * 1024;   // unsent answers past which we stop reading
constexpr std::size_t kLowWater = 64 * 1024;
constexpr auto kLinger = 2s;  // how long a closing connection waits for the client's end

constexpr std::string_view kPage =
    "<!doctype html>\n<html><head><title>iomux</title></head>\n"
    "<body><h1>Hello from iomux</h1><p>Served by http_hello.</p></body></html>\n";

class HttpServer {
public:
    HttpServer(iomux::Reactor& reactor, iomux::UniqueFd listener, Clock::duration idle_timeout)
        : reactor_(reactor), idle_timeout_(idle_timeout),
          acceptor_(reactor, std::move(listener), [this](iomux::UniqueFd sock) { on_accept(std::move(sock)); }) {}

    ~HttpServer() {
        while (!conns_.empty()) close(conns_.begin()->first);
    }

private:
    struct Connection {
        iomux::UniqueFd sock;
        std::string in;                // received bytes not parsed yet
        RequestParser parser{kMaxHead};
        std::uint64_t body_left = 0;   // bytes of a request body still to skip
        OutBuffer out;                 // answers the kernel has not taken yet
        bool reading = true;           // false while out is over the high-water mark
        bool writing = false;          // a writer callback is registered
        bool closing = false;          // the last answer is queued; input is discarded
        bool peer_done = false;        // the client sent its end of input
        Clock::time_point last_active;
        iomux::TimerHandle timer;      // the idle timeout, or the linger deadline when closing
    };

    void on_accept(iomux::UniqueFd sock) {
        const int fd = sock.get();
        Connection& c = conns_.try_emplace(fd).first->second;
        c.sock = std::move(sock);
        c.last_active = reactor_.now();
        start_reading(fd);
        arm_timer(fd, c, idle_timeout_);
    }

    void start_reading(int fd) { reactor_.add_reader(fd, [this, fd] { on_readable(fd); }); }

    void arm_timer(int fd, Connection& c, Clock::duration delay) {
        c.timer.cancel();
        c.timer = reactor_.call_later(delay, [this, fd] { on_timer(fd); });
    }

    // One timer per connection, re-armed only when it fires: resetting a timer on every
    // read would cost a timer-queue operation per request.
    void on_timer(int fd) {
        Connection& c = conns_.at(fd);
        if (c.closing) return close(fd);  // the client did not finish in time
        const auto idle = reactor_.now() - c.last_active;
        if (idle < idle_timeout_) return arm_timer(fd, c, idle_timeout_ - idle);
        refuse(fd, c, 408, "Request Timeout");
        send(fd, c);
    }

    void on_readable(int fd) {
        Connection& c = conns_.at(fd);
        std::size_t budget = kReadBudget;
        while (budget > 0) {
            const ssize_t n = ::recv(fd, buf_.data(), std::min(buf_.size(), budget), 0);
            if (n > 0) {
                budget -= static_cast<std::size_t>(n);
                c.last_active = reactor_.now();
                if (c.closing) continue;  // the answer is final: read only to drain
                c.in.append(buf_.data(), static_cast<std::size_t>(n));
                if (!serve(fd, c) || !c.reading) return;
                continue;
            }
            if (n == 0) return on_end_of_input(fd, c);
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) close(fd);  // ECONNRESET and the like
            return;
        }
        reactor_.keep_ready(fd, iomux::EVENT_READ);  // more may be waiting: next iteration
    }

    void on_end_of_input(int fd, Connection& c) {
        c.peer_done = true;
        c.closing = true;  // answers to complete requests still go out; a partial one is dropped
        c.reading = false;
        reactor_.remove_reader(fd);
        if (c.out.empty()) close(fd);
    }

    void on_writable(int fd) {
        Connection& c = conns_.at(fd);
        c.last_active = reactor_.now();
        if (!send(fd, c)) return;
        if (!c.reading && !c.closing && c.out.size() <= kLowWater) {
            // Answer what is already buffered before reading more.
            c.reading = true;
            if (!serve(fd, c) || !c.reading) return;
            start_reading(fd);
            reactor_.keep_ready(fd, iomux::EVENT_READ);  // edge-triggered: no new edge may come
        }
    }

    // Answers every complete request in c.in and sends, unless the client stops taking
    // answers: then reading pauses with the rest left in c.in. Returns false if it closed c.
    bool serve(int fd, Connection& c) {
        std::size_t pos = 0;
        while (!c.closing) {
            if (c.out.size() >= kHighWater) {
                // Send before answering more; stop if the client is not reading them.
                if (!send(fd, c)) return false;
                if (!c.reading) break;
            }
            if (c.body_left > 0) {  // bodies are not used: skip them
                const std::size_t skip = std::min<std::uint64_t>(c.body_left, c.in.size() - pos);
                pos += skip;
                c.body_left -= skip;
                if (c.body_left > 0) break;
            }
            std::string_view rest = std::string_view(c.in).substr(pos);
            const RequestParser::Status status = c.parser.parse(rest);
            pos = c.in.size() - rest.size();
            if (status == RequestParser::Status::incomplete) break;
            if (status == RequestParser::Status::bad_request) {
                refuse(fd, c, 400, "Bad Request");
            } else if (status == RequestParser::Status::too_large) {
                refuse(fd, c, 431, "Request Header Fields Too Large");
            } else if (c.parser.request().chunked) {
                refuse(fd, c, 501, "Not Implemented");
            } else {
                answer(fd, c, c.parser.request());
                c.body_left = c.parser.request().content_length;
                c.parser.reset();
            }
        }
        c.in.erase(0, pos);
        if (c.in.empty() && c.in.capacity() > 4096) std::string().swap(c.in);  // idle: give it back
        return send(fd, c);
    }

    void answer(int fd, Connection& c, const Request& req) {
        const bool head = req.method == "HEAD";
        int code = 200;
        std::string_view reason = "OK";
        if (req.method != "GET" && !head) {
            code = 405, reason = "Method Not Allowed";
        } else if (req.target != "/" && req.target != "/index.html") {
            code = 404, reason = "Not Found";
        }
        const std::string_view body = code == 200 ? kPage : reason;
        std::string_view connection;
        if (!req.keep_alive) {
            connection = "Connection: close\r\n";
        } else if (req.minor_version == 0) {
            connection = "Connection: keep-alive\r\n";  // HTTP/1.0 needs to be told
        }
        c.out.append(fmt::format("HTTP/1.1 {} {}\r\n{}Content-Type: text/{}; charset=utf-8\r\n"
                                 "Content-Length: {}\r\n{}{}\r\n",
                                 code, reason, date_header(), code == 200 ? "html" : "plain",
                                 body.size(), code == 405 ? "Allow: GET, HEAD\r\n" : "", connection));
        if (!head) c.out.append(body);
        if (!req.keep_alive) start_closing(fd, c);
    }

    // Queues a final error answer; the connection closes once it is sent.
    void refuse(int fd, Connection& c, int code, std::string_view reason) {
        c.out.append(fmt::format("HTTP/1.1 {} {}\r\n{}Content-Type: text/plain; charset=utf-8\r\n"
                                 "Content-Length: {}\r\nConnection: close\r\n\r\n{}\n",
                                 code, reason, date_header(), reason.size() + 1, reason));
        start_closing(fd, c);
    }

    void start_closing(int fd, Connection& c) {
        c.closing = true;
        arm_timer(fd, c, kLinger);
    }

    // Sends what is queued and watches for writability while anything is left. Returns
    // false if it closed c.
    bool send(int fd, Connection& c) {
        switch (c.out.flush(fd)) {
        case OutBuffer::Status::failed:
            close(fd);
            return false;
        case OutBuffer::Status::blocked:
            if (!c.writing) reactor_.add_writer(fd, [this, fd] { on_writable(fd); });
            c.writing = true;
            if (c.reading && !c.closing && c.out.size() >= kHighWater) {
                c.reading = false;  // backpressure: a client that pipelines but does not read
                reactor_.remove_reader(fd);
            }
            return true;
        case OutBuffer::Status::drained:
            if (c.writing) reactor_.remove_writer(fd);
            c.writing = false;
            if (c.closing) return finish_closing(fd, c);
            return true;
        }
        return true;
    }

    // The last answer is sent. Returns false if it closed c.
    bool finish_closing(int fd, Connection& c) {
        if (c.peer_done) {
            close(fd);
            return false;
        }
        // Half-close and read until the client closes too (or the linger timer fires).
        ::shutdown(fd, SHUT_WR);
        if (!c.reading) {
            c.reading = true;
            start_reading(fd);
            reactor_.keep_ready(fd, iomux::EVENT_READ);
        }
        return true;
    }

    void close(int fd) {
        Connection& c = conns_.at(fd);
        c.timer.cancel();
        reactor_.remove_reader(fd);
        reactor_.remove_writer(fd);
        conns_.erase(fd);
    }

    // HTTP/1.1 servers with a clock send Date (RFC 9110 section 6.6.1).
    std::string date_header() {
        const std::time_t now = std::time(nullptr);
        if (now != date_time_) {
            date_time_ = now;
            date_ = fmt::format("Date: {:%a, %d %b %Y %H:%M:%S} GMT\r\n", fmt::gmtime(now));
        }
        return date_;
    }

    iomux::Reactor& reactor_;
    Clock::duration idle_timeout_;
    examples::Acceptor acceptor_;
    std::unordered_map<int, Connection> conns_;
    std::vector<char> buf_ = std::vector<char>(kReadBudget);  // shared by all connections
    std::time_t date_time_ = 0;
    std::string date_;
};

}  // namespace

int main(int argc, char** argv) {
    examples::CommandLine cli("http_hello", "An HTTP/1.1 server on 127.0.0.1 that serves a hello page at /.");
    examples::ServerOptions opts;
    opts.add_to(cli);
    double idle_seconds = 30;
    cli.option("--idle-timeout", "SECONDS", "answer 408 and close a client silent this long (default 30)",
               [&](std::string_view v) { idle_seconds = examples::parse_seconds(v); });
    if (auto status = cli.parse(argc, argv)) return *status;

    try {
        iomux::Reactor reactor(opts.backend);
        iomux::UniqueFd listener = examples::listen_tcp(opts.port);
        const int listener_fd = listener.get();
        const auto idle = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(idle_seconds));
        HttpServer server(reactor, std::move(listener), idle);
        reactor.add_signal_handler(SIGINT, [&] { reactor.stop(); });
        reactor.add_signal_handler(SIGTERM, [&] { reactor.stop(); });
        examples::announce(listener_fd);
        reactor.run();
    } catch (const std::exception& e) {
        fmt::print(stderr, "http_hello: {}\n", e.what());
        return 1;
    }
    return 0;
}
