// http_hello: the material's browser-facing server, made real HTTP/1.1.
//
// The material answers every recv() with a status line and some HTML, with no
// Content-Length and no idea where a request ends. This one:
//  - parses each request head as it arrives, across as many reads as it takes
//    (http/request_parser.hpp), and answers with a Content-Length, so the connection can
//    carry the next request: keep-alive, and pipelining (several requests sent before the
//    first answer; answers go out in order, all those of one read in one write);
//  - answers 400 to a malformed request, 431 to a head over 8 KiB, 408 to a client idle
//    past --idle-timeout, and then closes;
//  - closes after the answer for "Connection: close", and for HTTP/1.0 unless it asked for
//    keep-alive;
//  - closes gracefully: it shuts down its sending side and waits (briefly) for the client
//    to finish, because closing a socket with unread input sends a reset that can destroy
//    the answer before the client reads it.
//
// Each connection is an iomux::Protocol (reactor/protocol.hpp) under an iomux::Server
// (reactor/server.hpp): the library accepts, reads, and sends or buffers what is written;
// this file is only HTTP.
//
//   http_hello --port 8080 --idle-timeout 30     then: curl http://127.0.0.1:8080/
#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "common/announce.hpp"
#include "common/options.hpp"
#include "http/request_parser.hpp"
#include "reactor/protocol.hpp"
#include "reactor/reactor.hpp"
#include "reactor/server.hpp"
#include "reactor/transport.hpp"

namespace {

using namespace std::chrono_literals;
using examples::http::Request;
using examples::http::RequestParser;
using Clock = iomux::Reactor::Clock;

constexpr std::size_t kMaxHead = 8 * 1024;      // request line + headers; more is a 431
constexpr std::size_t kHighWater = 256 * 1024;  // unsent answers past which we stop reading
constexpr std::size_t kLowWater = 64 * 1024;
constexpr std::size_t kMaxBatch = 64 * 1024;    // answers made before they go to the transport
constexpr auto kLinger = 2s;  // how long a closing connection waits for the client's end

constexpr std::string_view kPage =
    "<!doctype html>\n<html><head><title>iomux</title></head>\n"
    "<body><h1>Hello from iomux</h1><p>Served by http_hello.</p></body></html>\n";

// The bytes of every answer to a well-formed request, made once a second (when the Date
// changes) rather than formatted for each request: formatting took half the instructions
// the server spent on a request.
class Answers {
public:
    enum Status { ok, not_found, not_allowed };
    enum ConnectionHeader { none, close, keep_alive };

    // Remakes the answers if the second changed: views from get() last until then.
    void refresh() {
        const std::time_t now = std::time(nullptr);
        if (now == time_) return;
        time_ = now;
        // HTTP/1.1 servers with a clock send Date (RFC 9110 section 6.6.1).
        date_ = fmt::format("Date: {:%a, %d %b %Y %H:%M:%S} GMT\r\n", fmt::gmtime(now));
        for (Status status : {ok, not_found, not_allowed}) {
            for (ConnectionHeader connection : {none, close, keep_alive}) make(status, connection);
        }
    }

    // The whole answer, or its head alone (for HEAD).
    std::string_view get(Status status, ConnectionHeader connection, bool head_only) const {
        const Answer& a = answers_[index(status, connection)];
        return std::string_view(a.bytes).substr(0, head_only ? a.head_size : a.bytes.size());
    }

    // A final error answer; rare, so made when needed.
    std::string refusal(int code, std::string_view reason) const {
        return fmt::format("HTTP/1.1 {} {}\r\n{}Content-Type: text/plain; charset=utf-8\r\n"
                           "Content-Length: {}\r\nConnection: close\r\n\r\n{}\n",
                           code, reason, date_, reason.size() + 1, reason);
    }

private:
    struct Answer {
        std::string bytes;
        std::size_t head_size = 0;
    };

    static std::size_t index(Status status, ConnectionHeader connection) { return status * 3 + connection; }

    void make(Status status, ConnectionHeader connection) {
        static constexpr int kCodes[] = {200, 404, 405};
        static constexpr std::string_view kReasons[] = {"OK", "Not Found", "Method Not Allowed"};
        static constexpr std::string_view kConnections[] = {"", "Connection: close\r\n",
                                                            "Connection: keep-alive\r\n"};
        const std::string_view reason = kReasons[status];
        const std::string_view body = status == ok ? kPage : reason;
        Answer& a = answers_[index(status, connection)];
        a.bytes = fmt::format("HTTP/1.1 {} {}\r\n{}Content-Type: text/{}; charset=utf-8\r\n"
                              "Content-Length: {}\r\n{}{}\r\n",
                              kCodes[status], reason, date_, status == ok ? "html" : "plain", body.size(),
                              status == not_allowed ? "Allow: GET, HEAD\r\n" : "", kConnections[connection]);
        a.head_size = a.bytes.size();
        a.bytes += body;
    }

    std::time_t time_ = 0;
    std::string date_;
    std::array<Answer, 9> answers_;
};

// When a client was last heard from is read on every read: CLOCK_MONOTONIC_COARSE (the
// clock steady_clock reads, as of the last tick) costs a few ns where steady_clock costs
// some 30 (0.5% of the server's CPU per request, measured in a VM). It is behind by less
// than its resolution, which the idle check adds back so that a 408 is never early.
class CoarseClock {
public:
    CoarseClock() {
        timespec res{};
        ::clock_getres(CLOCK_MONOTONIC_COARSE, &res);
        resolution_ = to_duration(res);
    }
    Clock::time_point now() const {
        timespec ts{};
        ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
        return Clock::time_point(to_duration(ts));
    }
    Clock::duration resolution() const { return resolution_; }

private:
    static Clock::duration to_duration(const timespec& ts) {
        return std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(ts.tv_sec) +
                                                           std::chrono::nanoseconds(ts.tv_nsec));
    }
    Clock::duration resolution_{};
};

// What every connection of the server shares. One loop, one thread: no locking.
struct Site {
    Clock::duration idle_timeout;
    CoarseClock clock;
    Answers answers;
    std::string batch;  // the answers to one read, written at once; reused, so not reallocated
};

class HttpConnection final : public iomux::Protocol {
public:
    explicit HttpConnection(Site& site) : site_(site) {}

    void connection_made(iomux::Transport& transport) override {
        transport_ = &transport;
        transport.set_write_buffer_limits(kHighWater, kLowWater);
        last_active_ = site_.clock.now();
        arm_timer(site_.idle_timeout);
    }

    void data_received(std::string_view data) override {
        last_active_ = site_.clock.now();
        if (closing_) return;  // the answer is final: read only to drain
        if (in_.empty()) {
            // Most reads hold whole requests: parse them where they lie, keep only the rest.
            std::string_view rest = data;
            serve(rest);
            if (!closing_) in_.assign(rest);
            return;
        }
        in_.append(data);
        serve_buffered();
    }

    // The client sent its end. Answers to its complete requests are out or buffered (reading
    // pauses before a request is left unanswered); a partial request is dropped. The
    // transport closes once its buffer is flushed.
    bool eof_received() override {
        peer_done_ = closing_ = true;
        return false;
    }

    void connection_lost(std::error_code) override { timer_.cancel(); }

    // A client that pipelines but does not read its answers is not read from either.
    void pause_writing() override {
        write_paused_ = true;
        transport_->pause_reading();
    }

    void resume_writing() override {
        write_paused_ = false;
        last_active_ = site_.clock.now();  // it is reading: not idle
        // Answer what is already received before reading more.
        if (!closing_ && !in_.empty()) serve_buffered();
        if (!write_paused_) transport_->resume_reading();
    }

private:
    void serve_buffered() {
        std::string_view rest = in_;
        serve(rest);
        if (closing_) return in_.clear();
        in_.erase(0, in_.size() - rest.size());
        if (in_.empty() && in_.capacity() > 4096) std::string().swap(in_);  // idle: give it back
    }

    // Answers every complete request at the front of input and advances it past them; stops
    // early when the client stops taking answers or the answer was final.
    void serve(std::string_view& input) {
        site_.answers.refresh();
        std::string& batch = site_.batch;
        batch.clear();
        while (!closing_ && !write_paused_) {
            if (batch.size() >= kMaxBatch) {
                // Hand over what is made so far; the transport says (pause_writing) whether
                // the client is taking it.
                flush(batch);
                continue;
            }
            if (body_left_ > 0) {  // bodies are not used: skip them
                const std::size_t skip = std::min<std::uint64_t>(body_left_, input.size());
                input.remove_prefix(skip);
                body_left_ -= skip;
                if (body_left_ > 0) break;
            }
            const RequestParser::Status status = parser_.parse(input);
            if (status == RequestParser::Status::incomplete) break;
            if (status == RequestParser::Status::bad_request) {
                refuse(400, "Bad Request");
            } else if (status == RequestParser::Status::too_large) {
                refuse(431, "Request Header Fields Too Large");
            } else if (parser_.request().chunked) {
                refuse(501, "Not Implemented");
            } else {
                answer(parser_.request());
                body_left_ = parser_.request().content_length;
                parser_.reset();
            }
        }
        flush(batch);
        if (closing_) finish();
    }

    void answer(const Request& req) {
        const std::string_view method = req.method, target = req.target;
        const bool head = method == "HEAD";
        Answers::Status status = Answers::ok;
        if (method != "GET" && !head) {
            status = Answers::not_allowed;
        } else if (target != "/" && target != "/index.html") {
            status = Answers::not_found;
        }
        Answers::ConnectionHeader connection = Answers::none;
        if (!req.keep_alive) {
            connection = Answers::close;
        } else if (req.minor_version == 0) {
            connection = Answers::keep_alive;  // HTTP/1.0 needs to be told
        }
        site_.batch += site_.answers.get(status, connection, head);
        if (!req.keep_alive) closing_ = true;
    }

    // Queues a final error answer; the connection closes once it is sent.
    void refuse(int code, std::string_view reason) {
        site_.batch += site_.answers.refusal(code, reason);
        closing_ = true;
    }

    void flush(std::string& batch) {
        if (batch.empty()) return;
        transport_->write(batch);
        batch.clear();
        if (transport_->is_closing()) closing_ = true;  // the client is gone (EPIPE...): stop answering
    }

    // The last answer is written (maybe buffered still). Half-close once it is sent, and
    // read (discarding) until the client closes too, or the linger timer fires.
    void finish() {
        if (peer_done_ || transport_->is_closing()) return;  // the transport closes after the flush
        transport_->write_eof();
        transport_->resume_reading();  // draining input is how we see the client's end
        arm_timer(kLinger);
    }

    // One timer per connection, re-armed only when it fires: resetting a timer on every
    // read would cost a timer-queue operation per request.
    void arm_timer(Clock::duration delay) {
        timer_.cancel();
        timer_ = transport_->loop().call_later(delay, [this] { on_timer(); });
    }

    void on_timer() {
        if (closing_) return transport_->abort();  // the client did not finish in time
        const auto idle = transport_->loop().now() - last_active_ - site_.clock.resolution();
        if (idle < site_.idle_timeout) return arm_timer(site_.idle_timeout - idle);
        site_.answers.refresh();
        transport_->write(site_.answers.refusal(408, "Request Timeout"));
        std::string().swap(in_);  // a partial request, never to be answered
        closing_ = true;
        finish();
    }

    Site& site_;
    iomux::Transport* transport_ = nullptr;
    std::string in_;  // received bytes not parsed yet: a partial request, or those held back
    RequestParser parser_{kMaxHead};
    std::uint64_t body_left_ = 0;  // bytes of a request body still to skip
    bool closing_ = false;         // the last answer is written; input is discarded
    bool peer_done_ = false;       // the client sent its end of input
    bool write_paused_ = false;    // the transport holds more than kHighWater unsent
    Clock::time_point last_active_;
    iomux::TimerHandle timer_;  // the idle timeout, or the linger deadline when closing
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
        // Declared first: the connections use it until the loop, which owns them, is gone.
        Site site{std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(idle_seconds)), {}, {}, {}};
        iomux::Reactor loop(opts.backend);
        iomux::Server server(loop, [&site] { return std::make_unique<HttpConnection>(site); },
                             iomux::listen_tcp("127.0.0.1", opts.port));
        loop.add_signal_handler(SIGINT, [&] { loop.stop(); });
        loop.add_signal_handler(SIGTERM, [&] { loop.stop(); });
        examples::announce(server.fd());
        loop.run();
    } catch (const std::exception& e) {
        fmt::print(stderr, "http_hello: {}\n", e.what());
        return 1;
    }
    return 0;
}
