#include "run_tool.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <system_error>
#include <thread>

#include "poller/unique_fd.hpp"

namespace stress_test {

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

ToolRun run_tool(const std::string& path, const std::vector<std::string>& args, std::chrono::milliseconds limit,
                 const std::function<void(pid_t)>& meanwhile) {
    std::vector<std::string> argv_strings{path};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);

    int out_pipe[2], err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0)
        throw std::system_error(errno, std::generic_category(), "pipe2");
    iomux::UniqueFd out_r(out_pipe[0]), out_w(out_pipe[1]), err_r(err_pipe[0]), err_w(err_pipe[1]);
    const auto start = std::chrono::steady_clock::now();
    const pid_t pid = ::fork();
    if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
    if (pid == 0) {
        ::dup2(out_w.get(), STDOUT_FILENO);
        ::dup2(err_w.get(), STDERR_FILENO);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    out_w.reset();
    err_w.reset();
    std::thread poker;
    if (meanwhile) poker = std::thread([&meanwhile, pid] { meanwhile(pid); });

    ToolRun run;
    const auto deadline = start + limit;
    std::array<char, 65536> buf;
    while (out_r || err_r) {
        std::array<pollfd, 2> pfds{{{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}}};
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            ::kill(pid, SIGKILL);
            run.timed_out = true;
            break;
        }
        if (::poll(pfds.data(), pfds.size(), static_cast<int>(left.count())) < 0 && errno != EINTR) break;
        for (int i = 0; i < 2; ++i) {
            if (pfds[i].fd < 0 || !pfds[i].revents) continue;
            iomux::UniqueFd& fd = i == 0 ? out_r : err_r;
            const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
            if (n > 0)
                (i == 0 ? run.out : run.err).append(buf.data(), static_cast<std::size_t>(n));
            else if (n == 0 || errno != EINTR)
                fd.reset();
        }
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (poker.joinable()) poker.join();
    run.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return run;
}

std::vector<pid_t> children_of(pid_t pid, std::size_t at_least, std::chrono::milliseconds wait) {
    const auto until = std::chrono::steady_clock::now() + wait;
    std::vector<pid_t> pids;
    for (;;) {
        pids.clear();
        std::ifstream f("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
        for (pid_t child; f >> child;) pids.push_back(child);
        if (pids.size() >= at_least || std::chrono::steady_clock::now() >= until) return pids;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

std::optional<std::string> json_raw(const std::string& json, std::string_view key, std::string_view section) {
    std::size_t from = 0, to = json.size();
    if (!section.empty()) {
        const std::string head = "\"" + std::string(section) + "\": {";
        from = json.find(head);
        if (from == std::string::npos) return std::nullopt;
        to = json.find('}', from);
        if (to == std::string::npos) return std::nullopt;
    }
    const std::string needle = "\"" + std::string(key) + "\": ";
    const std::size_t at = json.find(needle, from);
    if (at == std::string::npos || at >= to) return std::nullopt;
    const std::size_t begin = at + needle.size();
    const std::size_t end = json.find_first_of(",\n", begin);
    return json.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

std::optional<double> json_number(const std::string& json, std::string_view key, std::string_view section) {
    const auto raw = json_raw(json, key, section);
    if (!raw) return std::nullopt;
    char* end = nullptr;
    const double v = std::strtod(raw->c_str(), &end);
    if (end == raw->c_str()) return std::nullopt;
    return v;
}

}  // namespace stress_test
