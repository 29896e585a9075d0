// http_hello, started as a real process on the backend under test, driven by curl, wrk and
// raw sockets.
#include <doctest/doctest.h>

#include <sys/socket.h>

#include <chrono>
#include <regex>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "common/process_stats.hpp"
#include "tests/examples/client.hpp"
#include "tests/examples/process.hpp"

namespace iomux::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

ServerProcess start_http(std::vector<std::string> args = {}) {
    return ServerProcess(example_path("HTTP_HELLO"), std::move(args));
}

std::string url(const ServerProcess& server, std::string_view path = "/") {
    return fmt::format("http://127.0.0.1:{}{}", server.port(), path);
}

// curl with a bounded run time; --write-out prints the status (and whatever else is asked)
// per URL. Bodies go to /dev/null: an --output before each URL.
CommandResult curl(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"curl", "--silent", "--max-time", "10"};
    for (const std::string& arg : args) {
        if (arg.rfind("http://", 0) == 0) argv.insert(argv.end(), {"--output", "/dev/null"});
        argv.push_back(arg);
    }
    CommandResult result = run_command(argv);
    REQUIRE_MESSAGE(result.status != 127, "curl is not installed (apt-get install curl)");
    return result;
}

std::size_t count(const std::string& text, std::string_view what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

}  // namespace

TEST_CASE("http_hello: keep-alive: curl fetches two URLs over one connection") {
    ServerProcess server = start_http();
    // num_connects: connections opened for that transfer; 0 means the first was reused.
    const CommandResult r = curl({"--write-out", "%{http_code} %{num_connects}\n", url(server), url(server)});
    CHECK(r.status == 0);
    CHECK(r.output == "200 1\n200 0\n");
    CHECK(server.terminate());
}

TEST_CASE("http_hello: the page, 404, 405 and HEAD") {
    ServerProcess server = start_http();
    UniqueFd sock = connect_to(server.port());
    send_all(sock.get(), "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    const std::string page = recv_all(sock.get());
    CHECK(page.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(page.find("Hello from iomux") != std::string::npos);
    // The Content-Length is that of the body.
    const auto body = page.find("\r\n\r\n") + 4;
    CHECK(page.find(fmt::format("Content-Length: {}\r\n", page.size() - body)) != std::string::npos);

    // --next: options before it apply to the URLs before it.
    const CommandResult r = curl({"--write-out", "%{http_code}\n", url(server, "/nowhere"), "--next",
                                  "--write-out", "%{http_code}\n", "--request", "DELETE", url(server), "--next",
                                  "--write-out", "%{http_code} %{size_download}\n", "--head", url(server)});
    CHECK(r.output == "404\n405\n200 0\n");
    CHECK(server.terminate());
}

TEST_CASE("http_hello: pipelined requests, split across reads, are answered in order") {
    ServerProcess server = start_http();
    UniqueFd sock = connect_to(server.port());
    // The first request line arrives in two pieces; then three requests in one write, the
    // last asking to close.
    send_all(sock.get(), "GET / HT");
    std::this_thread::sleep_for(50ms);
    send_all(sock.get(),
             "TP/1.1\r\nHost: t\r\n\r\n"
             "GET /a HTTP/1.1\r\nHost: t\r\n\r\n"
             "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 9\r\n\r\nGET /x\r\n"  // a body, skipped
             "HEAD / HTTP/1.1\r\nHost: t\r\n\r\n"
             "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
             "GET / HTTP/1.1\r\nHost: t\r\n\r\n");  // after the close: never answered
    const std::string replies = recv_all(sock.get());
    const auto first = replies.find("HTTP/1.1 200");
    const auto second = replies.find("HTTP/1.1 404");
    const auto third = replies.find("HTTP/1.1 405");
    CHECK(first < second);
    CHECK(second < third);
    CHECK(count(replies, "HTTP/1.1 ") == 5);
    CHECK(count(replies, "Hello from iomux") == 2);  // HEAD has no body
    CHECK(count(replies, "Connection: close") == 1);
    CHECK(server.terminate());
}

TEST_CASE("http_hello: a client that pipelines 20000 requests without reading gets every answer") {
    ServerProcess server = start_http();
    UniqueFd sock = connect_to(server.port(), {.rcvbuf = 64 << 10});
    const long rss_before = static_cast<long>(tools::rss_kib(server.pid()).value());
    constexpr int kRequests = 20000;
    std::string requests;
    for (int i = 0; i < kRequests; ++i) requests += "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    std::thread writer([&] {
        send_all(sock.get(), requests);
        ::shutdown(sock.get(), SHUT_WR);  // answers to everything sent are still owed
    });
    std::string replies;
    try {
        std::this_thread::sleep_for(500ms);  // not reading: the server must hold back
        const long rss_stalled = static_cast<long>(tools::rss_kib(server.pid()).value());
        MESSAGE("server RSS +" << rss_stalled - rss_before << " KiB with the client not reading");
        CHECK(rss_stalled - rss_before < 4096);
        replies = recv_all(sock.get(), 64 << 20);
    } catch (...) {
        ::shutdown(sock.get(), SHUT_RDWR);
        writer.join();
        throw;
    }
    writer.join();
    CHECK(count(replies, "HTTP/1.1 200 OK\r\n") == kRequests);
    CHECK(server.terminate());
}

TEST_CASE("http_hello: 400 for a malformed request, then close") {
    ServerProcess server = start_http();
    {
        UniqueFd sock = connect_to(server.port());
        send_all(sock.get(), "this is not http\r\n\r\n");
        const std::string reply = recv_all(sock.get());  // ends: the server closed
        CHECK(reply.rfind("HTTP/1.1 400 Bad Request\r\n", 0) == 0);
    }
    // A method with a space in it makes a request line of four words.
    const CommandResult r = curl({"--write-out", "%{http_code}\n", "--request", "GE T", url(server)});
    CHECK(r.output == "400\n");
    CHECK(server.terminate());
}

TEST_CASE("http_hello: 431 for request headers over 8 KiB") {
    ServerProcess server = start_http();
    const CommandResult r =
        curl({"--write-out", "%{http_code}\n", "--header", "X-Big: " + std::string(10000, 'a'), url(server)});
    CHECK(r.output == "431\n");
    CHECK(server.terminate());
}

TEST_CASE("http_hello: 408 and close for a client idle past --idle-timeout") {
    ServerProcess server = start_http({"--idle-timeout", "0.3"});
    // One connection that never sends, one that stops halfway through a request.
    UniqueFd silent = connect_to(server.port());
    UniqueFd partial = connect_to(server.port());
    const auto start = Clock::now();
    send_all(partial.get(), "GET / HTTP/1.1\r\nHost:");
    for (UniqueFd* sock : {&silent, &partial}) {
        const std::string reply = recv_all(sock->get());  // ends: the server closed
        CHECK(reply.rfind("HTTP/1.1 408 Request Timeout\r\n", 0) == 0);
    }
    const auto waited = Clock::now() - start;
    CHECK(waited >= 300ms);
    CHECK(waited < 3s);

    // An active keep-alive connection is not timed out while it keeps asking.
    UniqueFd busy = connect_to(server.port());
    for (int i = 0; i < 5; ++i) {
        send_all(busy.get(), "HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
        std::string reply;
        while (reply.find("\r\n\r\n") == std::string::npos) REQUIRE(try_recv(busy.get(), reply, 4096) == Outcome::data);
        CHECK(reply.rfind("HTTP/1.1 200 OK", 0) == 0);
        std::this_thread::sleep_for(100ms);
    }
    CHECK(server.terminate());
}

TEST_CASE("http_hello: Connection: close and HTTP/1.0 close after the answer") {
    ServerProcess server = start_http();
    // Each transfer needs a connection of its own.
    CommandResult r = curl({"--write-out", "%{http_code} %{num_connects}\n", "--header", "Connection: close",
                            url(server), url(server)});
    CHECK(r.output == "200 1\n200 1\n");
    r = curl({"--http1.0", "--write-out", "%{http_code} %{num_connects}\n", url(server), url(server)});
    CHECK(r.output == "200 1\n200 1\n");
    // HTTP/1.0 that asks for keep-alive gets it.
    UniqueFd sock = connect_to(server.port());
    for (int i = 0; i < 2; ++i) {
        send_all(sock.get(), "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        std::string reply;
        while (count(reply, "</html>") == 0) REQUIRE(try_recv(sock.get(), reply, 4096) == Outcome::data);
        CHECK(reply.find("Connection: keep-alive\r\n") != std::string::npos);
    }
    CHECK(server.terminate());
}

TEST_CASE("http_hello: a short wrk run gets answers and no errors") {
    ServerProcess server = start_http();
    const CommandResult r = run_command({"wrk", "-t1", "-c10", "-d1s", "--timeout", "2s", url(server)});
    REQUIRE_MESSAGE(r.status != 127, "wrk is not installed (apt-get install wrk)");
    INFO(r.output);
    CHECK(r.status == 0);
    std::smatch m;
    REQUIRE(std::regex_search(r.output, m, std::regex(R"((\d+) requests in)")));
    CHECK(std::stol(m[1]) > 100);
    CHECK(r.output.find("Socket errors") == std::string::npos);
    CHECK(r.output.find("Non-2xx") == std::string::npos);
    CHECK(server.terminate());
}

}  // namespace iomux::test
