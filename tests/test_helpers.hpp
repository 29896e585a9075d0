// Test helpers that use doctest: sending, errno of a thrown system_error, signals.
#pragma once

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <chrono>
#include <string_view>
#include <system_error>
#include <thread>

#include <doctest/doctest.h>

namespace iomux::test {

inline bool fd_is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

// Milliseconds since t0, on the monotonic clock.
inline double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// MSG_NOSIGNAL: some peers here are closed on purpose, and SIGPIPE would kill the runner.
inline void send_all(int fd, std::string_view msg) {
    const ssize_t n = ::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL);
    REQUIRE(n == static_cast<ssize_t>(msg.size()));
}

// The errno of the std::system_error f throws, or 0 when it throws nothing. Any other
// exception propagates, which doctest reports as a failure of the test.
template <class F>
int errno_thrown(F&& f) {
    try {
        f();
    } catch (const std::system_error& e) {
        return e.code().value();
    }
    return 0;
}

// SIGALRM from setitimer with a handler that only counts. Installed without SA_RESTART
// (poll, select and epoll_wait are never restarted anyway) so every alarm is an EINTR the
// Poller has to retry. After max_alarms the handler disarms the timer, so a wait that
// wrongly restarts its full timeout on each EINTR still ends and fails on its elapsed time.
class AlarmGuard {
public:
    AlarmGuard(std::chrono::microseconds first, std::chrono::microseconds interval, int max_alarms = 1) {
        count_ = 0;
        max_ = max_alarms;
        struct sigaction sa {};
        sa.sa_handler = &on_alarm;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0;
        REQUIRE(::sigaction(SIGALRM, &sa, &old_) == 0);
        itimerval it{to_timeval(interval), to_timeval(first)};
        REQUIRE(::setitimer(ITIMER_REAL, &it, nullptr) == 0);
    }
    ~AlarmGuard() {
        disarm();
        ::sigaction(SIGALRM, &old_, nullptr);
    }
    AlarmGuard(const AlarmGuard&) = delete;
    AlarmGuard& operator=(const AlarmGuard&) = delete;

    static int count() noexcept { return count_.load(); }

private:
    static timeval to_timeval(std::chrono::microseconds us) {
        return {static_cast<time_t>(us.count() / 1'000'000), static_cast<suseconds_t>(us.count() % 1'000'000)};
    }
    static void disarm() noexcept {
        itimerval zero{};
        ::setitimer(ITIMER_REAL, &zero, nullptr);
    }
    static void on_alarm(int) {
        if (count_.fetch_add(1) + 1 >= max_) disarm();
    }

    static inline std::atomic<int> count_{0};
    static inline std::atomic<int> max_{1};
    struct sigaction old_ {};
};

// A thread that cannot take SIGALRM (so the alarm always lands in the waiting main thread),
// joined on scope exit even when a REQUIRE throws.
class SignalFreeThread {
public:
    template <class F>
    explicit SignalFreeThread(F f) {
        sigset_t alrm, old;
        sigemptyset(&alrm);
        sigaddset(&alrm, SIGALRM);
        ::pthread_sigmask(SIG_BLOCK, &alrm, &old);  // inherited by the new thread
        thread_ = std::thread(std::move(f));
        ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }
    ~SignalFreeThread() {
        if (thread_.joinable()) thread_.join();
    }
    SignalFreeThread(const SignalFreeThread&) = delete;
    SignalFreeThread& operator=(const SignalFreeThread&) = delete;

private:
    std::thread thread_;
};

// Restores the soft RLIMIT_NOFILE on scope exit; declare it before the fds it makes room for.
class FdLimitGuard {
public:
    FdLimitGuard() { ::getrlimit(RLIMIT_NOFILE, &old_); }
    ~FdLimitGuard() { ::setrlimit(RLIMIT_NOFILE, &old_); }
    FdLimitGuard(const FdLimitGuard&) = delete;
    FdLimitGuard& operator=(const FdLimitGuard&) = delete;

private:
    rlimit old_{};
};

}  // namespace iomux::test
