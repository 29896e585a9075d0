#include "worker_pool.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "common/child_process.hpp"

namespace stress {
namespace {

// From SIGTERM to SIGKILL: long enough for a worker to close 20000 sockets and report.
constexpr auto kGrace = std::chrono::seconds(5);

void write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;  // the parent is gone: nobody to tell
        data.remove_prefix(static_cast<std::size_t>(n));
    }
}

}  // namespace

std::uint32_t WorkerPool::workers_needed(std::uint64_t conns, std::uint64_t fds_per_process, std::uint64_t reserve) {
    const std::uint64_t per = fds_per_process > reserve ? fds_per_process - reserve : 1;
    return static_cast<std::uint32_t>((conns + per - 1) / per);
}

WorkerPool::WorkerPool(std::uint32_t workers, std::uint32_t conns, const Body& body) {
    if (workers == 0 || workers > conns) throw std::invalid_argument("WorkerPool needs from 1 to conns workers");
    const pid_t parent = ::getpid();
    children_.resize(workers);
    for (std::uint32_t i = 0; i < workers; ++i) {
        const Share share{i, static_cast<std::uint32_t>(std::uint64_t{i} * conns / workers),
                          static_cast<std::uint32_t>(std::uint64_t{i + 1} * conns / workers -
                                                     std::uint64_t{i} * conns / workers)};
        int p[2];
        if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error(fmt::format("pipe2: {}", std::strerror(errno)));
        iomux::UniqueFd read_end(p[0]), write_end(p[1]);
        const pid_t pid = ::fork();
        if (pid < 0) throw std::runtime_error(fmt::format("fork: {}", std::strerror(errno)));
        if (pid == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(127);  // the parent died before prctl took effect
            read_end.reset();
            for (Child& c : children_) c.out.reset();  // the earlier workers' pipes
            int status = 0;
            try {
                write_all(write_end.get(), encode(body(share)));
            } catch (const std::exception& e) {
                fmt::print(stderr, "stress_client: worker {}: {}\n", i, e.what());
                status = 1;
            }
            std::fflush(stderr);
            // No destructors, no atexit: the parent's objects (a spawned server among them)
            // belong to the parent.
            ::_exit(status);
        }
        children_[i].pid = pid;
        children_[i].out = std::move(read_end);
        outcomes_.push_back(Outcome{share, pid, std::nullopt, {}});
        ++running_;
    }
}

WorkerPool::~WorkerPool() {
    deadline_timer_.cancel();
    kill_timer_.cancel();
    for (Child& c : children_) {
        if (loop_ && c.out) loop_->remove_reader(c.out.get());
        if (c.ended || c.pid <= 0) continue;
        ::kill(c.pid, SIGKILL);
        while (::waitpid(c.pid, nullptr, 0) < 0 && errno == EINTR) {
        }
    }
}

void WorkerPool::collect(iomux::Reactor& loop, std::chrono::steady_clock::time_point deadline) {
    loop_ = &loop;
    for (std::size_t i = 0; i < children_.size(); ++i) {
        ::fcntl(children_[i].out.get(), F_SETFL, ::fcntl(children_[i].out.get(), F_GETFL) | O_NONBLOCK);
        loop.add_reader(children_[i].out.get(), [this, i] { read_from(i); });
    }
    deadline_timer_ = loop.call_at(deadline, [this] {
        for (Outcome& o : outcomes_)
            if (!children_[o.share.index].ended) o.failure = "had not finished by the deadline (--timeout)";
        stop();
    });
    if (running_ > 0) loop.run();
    deadline_timer_.cancel();
    kill_timer_.cancel();
    for (Child& c : children_)
        if (c.out) {
            loop.remove_reader(c.out.get());
            c.out.reset();
        }
    loop_ = nullptr;
}

// Reads until EAGAIN (the report is small, and on epoll-et an end of file that came with
// the last bytes makes no edge of its own) or the end.
void WorkerPool::read_from(std::size_t i) {
    Child& c = children_[i];
    std::array<char, 16384> buf;
    ssize_t n;
    while ((n = ::read(c.out.get(), buf.data(), buf.size())) > 0) c.text.append(buf.data(), static_cast<std::size_t>(n));
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    // End of the pipe: the worker has exited, or is about to (its last act is _exit).
    loop_->remove_reader(c.out.get());
    c.out.reset();
    ended(i);
}

void WorkerPool::ended(std::size_t i) {
    Child& c = children_[i];
    Outcome& o = outcomes_[i];
    int status = 0;
    while (::waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
    }
    c.ended = true;
    const std::string how = iomux::tools::describe_wait_status(status);
    const bool exited = WIFEXITED(status);
    try {
        o.report = decode(c.text);
    } catch (const std::invalid_argument& e) {
        if (!c.text.empty() || exited)
            o.failure = fmt::format("{} without a whole report ({}){}", how, e.what(),
                                    c.killed ? ", after SIGKILL: it did not stop within 5 s of SIGTERM" : "");
        else
            o.failure = fmt::format("{} before reporting", how);
    }
    if (o.report && (!exited || WEXITSTATUS(status) != 0)) o.failure = how;
    if (--running_ == 0) loop_->stop();
}

void WorkerPool::stop() {
    if (stopping_) return;
    stopping_ = true;
    for (const Child& c : children_)
        if (!c.ended) ::kill(c.pid, SIGTERM);
    if (loop_) kill_timer_ = loop_->call_later(kGrace, [this] { escalate(); });
}

// The grace period is over: SIGKILL, and a worker whose pipe is still open (it may have
// handed it to a process of its own) is reaped anyway, with what it said so far.
void WorkerPool::escalate() {
    for (std::size_t i = 0; i < children_.size(); ++i) {
        Child& c = children_[i];
        if (c.ended) continue;
        c.killed = true;
        ::kill(c.pid, SIGKILL);
        if (c.out) {
            loop_->remove_reader(c.out.get());
            c.out.reset();
        }
        ended(i);
    }
}

}  // namespace stress
