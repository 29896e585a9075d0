#include "real_server.hpp"

#include <doctest/doctest.h>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "load_engine.hpp"
#include "poller/unique_fd.hpp"
#include "run_tool.hpp"
#include "tests/support.hpp"

namespace stress_test {
namespace {

using namespace std::chrono_literals;

// A port nothing listens on now: the kernel's pick, released for the server to take.
std::uint16_t free_port() {
    iomux::UniqueFd s(::socket(AF_INET, SOCK_STREAM, 0));
    sockaddr_in a = stress::make_address("127.0.0.1", 0);
    socklen_t len = sizeof a;
    REQUIRE(::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len) == 0);
    return ntohs(a.sin_port);
}

bool accepts(std::uint16_t port) {
    iomux::UniqueFd s(::socket(AF_INET, SOCK_STREAM, 0));
    const sockaddr_in a = stress::make_address("127.0.0.1", port);
    return ::connect(s.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
}

std::filesystem::path temp_dir() {
    std::string templ = (std::filesystem::temp_directory_path() / "stress_real_server.XXXXXX").string();
    REQUIRE(::mkdtemp(templ.data()) != nullptr);
    return templ;
}

void write_file(const std::filesystem::path& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary);
    f << text;
    REQUIRE(f.flush());
}

}  // namespace

std::string require_program(const std::string& name) {
    if (auto p = iomux::tools::find_on_path(name)) return *p;
    const std::string sbin = "/usr/sbin/" + name;
    REQUIRE_MESSAGE(::access(sbin.c_str(), X_OK) == 0, name << " is not installed (tools/dev.sh installs it)");
    return sbin;
}

void RealServer::start(std::vector<std::string> argv) {
    iomux::tools::SpawnOptions options;
    options.fd_limit = iomux::test::raise_fd_limit();  // thousands of connections
    child_.emplace(argv, options);
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (!accepts(port_)) {
        const auto status = child_->poll_status();
        REQUIRE_MESSAGE(!status, argv[0] << " exited at start: " << logs());
        REQUIRE_MESSAGE(std::chrono::steady_clock::now() < until, argv[0] << " does not listen on " << port_);
        std::this_thread::sleep_for(20ms);
    }
}

RealServer RealServer::nginx(const std::string& page, const std::string& directives) {
    RealServer s;
    s.dir_ = temp_dir();
    s.port_ = free_port();
    write_file(s.dir_ / "index.html", page);
    const std::string d = s.dir_.string();
    write_file(s.dir_ / "nginx.conf", fmt::format(R"(daemon off;
master_process off;
worker_rlimit_nofile 20000;
pid {0}/nginx.pid;
error_log {0}/error.log warn;
events {{ worker_connections 10000; }}
http {{
    access_log off;
    client_body_temp_path {0}/tmp;
    proxy_temp_path {0}/tmp;
    fastcgi_temp_path {0}/tmp;
    uwsgi_temp_path {0}/tmp;
    scgi_temp_path {0}/tmp;
    server {{
        listen 127.0.0.1:{1} backlog=4096;
        root {0};
        {2}
    }}
}}
)", d, s.port_, directives));
    s.start({require_program("nginx"), "-p", d, "-c", d + "/nginx.conf"});
    return s;
}

RealServer RealServer::redis() {
    RealServer s;
    s.dir_ = temp_dir();
    s.port_ = free_port();
    s.start({require_program("redis-server"), "--port", std::to_string(s.port_), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", s.dir_.string(), "--maxclients", "10000", "--logfile",
             (s.dir_ / "redis.log").string()});
    return s;
}

RealServer RealServer::http_hello() {
    const std::string path = env("HTTP_HELLO");
    REQUIRE_MESSAGE(!path.empty(), "HTTP_HELLO must name examples/http_hello (meson sets it)");
    RealServer s;
    iomux::tools::SpawnOptions options;
    options.capture_stdout = true;
    options.fd_limit = iomux::test::raise_fd_limit();
    s.child_.emplace(std::vector<std::string>{path, "--port", "0"}, options);
    const auto port = s.child_->read_listening_port(10s);
    REQUIRE_MESSAGE(port, "http_hello did not say where it listens");
    s.port_ = *port;
    return s;
}

RealServer::~RealServer() {
    if (child_ && child_->running()) {
        child_->signal(SIGTERM);
        child_->wait(3s);  // then SIGKILL
    }
    child_.reset();
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
}

std::string RealServer::logs() const {
    std::string out;
    for (const char* name : {"error.log", "redis.log"}) {
        std::ifstream f(dir_ / name);
        std::ostringstream text;
        if (f && text << f.rdbuf()) out += text.str();
    }
    return out;
}

}  // namespace stress_test
