#include "common/prefork.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <system_error>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "poller/unique_fd.hpp"
#include "reactor/reactor.hpp"

namespace examples {
namespace {

using namespace std::chrono_literals;

constexpr auto kReadyTimeout = 20s;
constexpr auto kStopGrace = 10s;

[[noreturn]] void fail(const char* what) { throw std::system_error(errno, std::generic_category(), what); }

sigset_t signal_set(std::initializer_list<int> signals) {
    sigset_t set;
    sigemptyset(&set);
    for (int s : signals) sigaddset(&set, s);
    return set;
}

std::string describe_status(int status) {
    if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return fmt::format("was killed by signal {} ({})", WTERMSIG(status), ::strsignal(WTERMSIG(status)));
    return fmt::format("ended with wait status {}", status);
}

// The body of a worker process after fork(); never returns.
[[noreturn]] void be_worker(std::size_t index, pid_t parent, const sigset_t& parent_mask, const Worker& worker,
                            iomux::UniqueFd ready_fd) {
    int status = 1;
    try {
        // Dies with the parent, however the parent ends. The parent may have died before
        // prctl: then we were already reparented.
        if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail("PR_SET_PDEATHSIG");
        if (::getppid() != parent) ::_exit(1);
        sigset_t mask = parent_mask;
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        ::sigprocmask(SIG_SETMASK, &mask, nullptr);
        status = worker(index, [&ready_fd] {
            const char byte = 1;
            [[maybe_unused]] auto n = ::write(ready_fd.get(), &byte, 1);
            ready_fd.reset();
        });
    } catch (const std::exception& e) {
        fmt::print(stderr, "worker {}: {}\n", index, e.what());
    }
    std::fflush(nullptr);
    // _exit: the parent's objects this process copied (its stack above us, its atexit
    // handlers) are not ours to destroy.
    ::_exit(status);
}

// The workers' pids, -1 once reaped. Any still running when this goes (the parent is
// leaving on an exception) are killed and reaped, not orphaned.
struct WorkerPids {
    std::vector<pid_t> pids;
    WorkerPids() = default;
    WorkerPids(const WorkerPids&) = delete;
    WorkerPids& operator=(const WorkerPids&) = delete;
    ~WorkerPids() {
        for (pid_t pid : pids) {
            if (pid <= 0) continue;
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
    }
    std::size_t live() const {
        std::size_t n = 0;
        for (pid_t pid : pids) n += pid > 0;
        return n;
    }
};

// The parent's loop, made after the forks so that no worker inherits it.
class Supervisor {
public:
    Supervisor(std::string_view program, WorkerPids& workers, iomux::UniqueFd ready_fd,
               const std::function<void()>& on_ready)
        : program_(program), workers_(workers), ready_fd_(std::move(ready_fd)), on_ready_(on_ready) {
        loop_.add_signal_handler(SIGCHLD, [this] { reap(); });
        loop_.add_signal_handler(SIGINT, [this] { stop_all(); });
        loop_.add_signal_handler(SIGTERM, [this] { stop_all(); });
        loop_.add_reader(ready_fd_.get(), [this] { on_ready_bytes(); });
        ready_timer_ = loop_.call_later(kReadyTimeout, [this] {
            fmt::print(stderr, "{}: {} of {} workers ready after {} s; stopping them\n", program_, ready_,
                       workers_.pids.size(), std::chrono::duration_cast<std::chrono::seconds>(kReadyTimeout).count());
            failed_ = true;
            stop_all();
        });
    }

    // Runs until every worker ended; returns the exit status.
    int run() {
        reap();  // those that ended before the handler was there
        if (workers_.live() > 0) loop_.run();
        return failed_ ? 1 : 0;
    }

private:
    void on_ready_bytes() {
        char buf[64];
        const ssize_t n = ::read(ready_fd_.get(), buf, sizeof buf);
        if (n > 0) ready_ += static_cast<std::size_t>(n);
        if (n == 0 || ready_ >= workers_.pids.size()) {  // EOF: every worker is ready or gone
            loop_.remove_reader(ready_fd_.get());
            ready_fd_.reset();
        }
        if (ready_ == workers_.pids.size() && !stopping_) {
            ready_timer_.cancel();
            fmt::print(stderr, "{}: {} workers ready, pids {}\n", program_, ready_, fmt::join(workers_.pids, " "));
            on_ready_();
        }
    }

    void reap() {
        std::vector<pid_t>& pids = workers_.pids;
        for (std::size_t i = 0; i < pids.size(); ++i) {
            if (pids[i] <= 0) continue;
            int status = 0;
            if (::waitpid(pids[i], &status, WNOHANG) != pids[i]) continue;
            const bool clean = stopping_ && WIFEXITED(status) && WEXITSTATUS(status) == 0;
            if (!clean) {
                failed_ = true;
                fmt::print(stderr, "{}: worker {} (pid {}) {}\n", program_, i, pids[i], describe_status(status));
            }
            pids[i] = -1;
            // Before all are ready it is a failed start: no port was announced to serve.
            if (!clean && ready_ < pids.size()) stop_all();
        }
        if (workers_.live() == 0) loop_.stop();
    }

    void stop_all() {
        if (stopping_) return;
        stopping_ = true;
        for (pid_t pid : workers_.pids)
            if (pid > 0) ::kill(pid, SIGTERM);
        loop_.call_later(kStopGrace, [this] {
            for (pid_t pid : workers_.pids)
                if (pid > 0) ::kill(pid, SIGKILL);
        });
    }

    std::string_view program_;
    WorkerPids& workers_;
    iomux::UniqueFd ready_fd_;
    const std::function<void()>& on_ready_;
    iomux::Reactor loop_;
    iomux::TimerHandle ready_timer_;
    std::size_t ready_ = 0;
    bool stopping_ = false;
    bool failed_ = false;
};

}  // namespace

int run_prefork(std::string_view program, std::size_t n, const Worker& worker, const std::function<void()>& on_ready) {
    // Blocked from before the first fork until the supervisor has handlers, so that no
    // worker's end and no stop request is missed; blocked again when it is done.
    const sigset_t watched = signal_set({SIGINT, SIGTERM, SIGCHLD});
    sigset_t old_mask;
    ::sigprocmask(SIG_BLOCK, &watched, &old_mask);

    int p[2];
    if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) fail("pipe2");
    iomux::UniqueFd ready_read(p[0]), ready_write(p[1]);

    WorkerPids workers;
    workers.pids.reserve(n);
    const pid_t parent = ::getpid();
    std::fflush(nullptr);  // or each worker would print the parent's buffered output again
    for (std::size_t i = 0; i < n; ++i) {
        const pid_t pid = ::fork();
        if (pid < 0) fail("fork");
        if (pid == 0) {
            ready_read.reset();
            be_worker(i, parent, old_mask, worker, std::move(ready_write));
        }
        workers.pids.push_back(pid);
    }
    ready_write.reset();  // so that the pipe ends once every worker is ready or gone

    Supervisor supervisor(program, workers, std::move(ready_read), on_ready);
    ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
    const int status = supervisor.run();
    ::sigprocmask(SIG_BLOCK, &watched, nullptr);
    return status;
}

}  // namespace examples
