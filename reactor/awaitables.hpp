// What a Task (task.hpp) can await on its loop: time, readiness of an fd of yours, work on
// another loop, and a time limit on any of these.
//
//   co_await iomux::sleep(100ms);
//   co_await iomux::readable(fd);                 // then recv() yourself
//   int n = co_await iomux::run_in_loop(other, [] { return 42; });
//   auto n = co_await iomux::with_timeout(2s, stream.read(buffer));   // timed_out
//
// Every one of them is cancellable (TaskHandle::cancel, with_timeout): the pending await
// is unhooked from the loop and throws std::system_error(std::errc::operation_canceled).
// None allocates per await, except sleep and with_timeout (the loop's timer record; and
// with_timeout's frame) and run_in_loop (the state two threads share).
#pragma once

#include <chrono>
#include <coroutine>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include "poller/poller.hpp"
#include "reactor/reactor.hpp"
#include "reactor/task.hpp"

namespace iomux {
namespace detail {

// Base of iomux's cancellable awaits: the task it suspends, and how it ended.
class Suspension {
protected:
    // In await_suspend, first: false (do not suspend) when a cancel() was waiting for it.
    template <TaskPromise P>
    bool begin(std::coroutine_handle<P> h) noexcept {
        context_ = h.promise().context;
        handle_ = h;
        if (context_->take_cancel_request()) {
            error_ = std::make_error_code(std::errc::operation_canceled);
            return false;
        }
        return true;
    }
    // Once hooked: cancel(self) must unhook, set error_ and resume the task.
    void arm(void (*cancel)(void*) noexcept) noexcept { context_->arm(this, cancel); }
    void resume() {
        context_->disarm();
        handle_.resume();
    }
    void resume_with(std::error_code error) {
        error_ = error;
        resume();
    }
    void check() const {
        if (error_) throw std::system_error(error_);
    }
    Reactor& loop() const noexcept { return *context_->loop; }

    TaskContext* context_ = nullptr;
    std::coroutine_handle<> handle_;
    std::error_code error_;
};

inline std::error_code canceled_code() {
    return std::make_error_code(std::errc::operation_canceled);
}

}  // namespace detail

// Resumes after at least delay (the loop's timers: never early, rounded up to the backend's
// resolution). sleep(0) lets the loop run one iteration first.
class Sleep : private detail::Suspension {
public:
    explicit Sleep(Reactor::Clock::duration delay) noexcept : delay_(delay) {}
    Sleep(Sleep&&) noexcept = default;
    ~Sleep() { timer_.cancel(); }  // the task was destroyed while asleep

    bool await_ready() const noexcept { return false; }
    template <detail::TaskPromise P>
    bool await_suspend(std::coroutine_handle<P> h) {
        if (!begin(h)) return false;
        timer_ = loop().call_later(delay_, [this] { resume(); });
        arm(&on_cancel);
        return true;
    }
    void await_resume() const { check(); }

private:
    static void on_cancel(void* self) noexcept {
        auto* s = static_cast<Sleep*>(self);
        s->timer_.cancel();
        s->resume_with(detail::canceled_code());
    }
    Reactor::Clock::duration delay_;
    TimerHandle timer_;
};

inline Sleep sleep(Reactor::Clock::duration delay) noexcept {
    return Sleep(delay);
}

// Resumes once fd is readable (EVENT_READ) or writable (EVENT_WRITE), for code that does its
// own I/O on a non-blocking fd. It is the fd's reader (writer) while it waits: the fd must
// have no other. Level-triggered on every backend, epoll-et included: each await asks the
// loop anew (a new registration is reported when the fd is ready already), so a task that
// stops before EAGAIN and awaits again is resumed at once, as readiness says it should.
class Readiness : private detail::Suspension {
public:
    Readiness(int fd, std::uint32_t event) noexcept : fd_(fd), event_(event) {}
    Readiness(Readiness&& other) noexcept
        : Suspension(other), fd_(other.fd_), event_(other.event_) {}  // not while waiting
    ~Readiness() { unwatch(); }

    bool await_ready() const noexcept { return false; }
    // Throws what add_reader / add_writer throw (ValueError, std::system_error for an fd the
    // backend refuses).
    template <detail::TaskPromise P>
    bool await_suspend(std::coroutine_handle<P> h) {
        if (!begin(h)) return false;
        auto ready = [this] {
            unwatch();
            resume();
        };
        if (event_ == EVENT_WRITE) loop().add_writer(fd_, ready);
        else loop().add_reader(fd_, ready);
        watching_ = true;
        arm(&on_cancel);
        return true;
    }
    void await_resume() const { check(); }

private:
    static void on_cancel(void* self) noexcept {
        auto* r = static_cast<Readiness*>(self);
        r->unwatch();
        r->resume_with(detail::canceled_code());
    }
    void unwatch() noexcept {
        if (!std::exchange(watching_, false)) return;
        try {
            if (event_ == EVENT_WRITE) loop().remove_writer(fd_);
            else loop().remove_reader(fd_);
        } catch (...) {  // only an allocation of the loop's change list can fail here
        }
    }
    int fd_;
    std::uint32_t event_;
    bool watching_ = false;
};

inline Readiness readable(int fd) noexcept {
    return Readiness(fd, EVENT_READ);
}
inline Readiness writable(int fd) noexcept {
    return Readiness(fd, EVENT_WRITE);
}

// Runs fn() on another loop, which another thread runs (call_soon_threadsafe), and resumes
// the awaiting task on its own loop with fn's result or exception. Cancelled, the task
// resumes at once and fn's result, when it comes, is dropped; fn itself still runs. If the
// other loop is destroyed before running fn, the await waits until cancelled.
template <typename F>
class RunInLoop : private detail::Suspension {
public:
    using Result = std::invoke_result_t<F&>;

    RunInLoop(Reactor& target, F fn) : target_(&target), fn_(std::move(fn)) {}
    RunInLoop(RunInLoop&&) noexcept = default;
    ~RunInLoop() { abandon(); }

    bool await_ready() const noexcept { return false; }
    template <detail::TaskPromise P>
    bool await_suspend(std::coroutine_handle<P> h) {
        if (!begin(h)) return false;
        state_ = std::make_shared<State>();
        state_->awaiter = this;
        state_->home = &loop();
        target_->call_soon_threadsafe([state = state_, fn = std::move(fn_)]() mutable {
            try {
                if constexpr (std::is_void_v<Result>) {
                    fn();
                    state->value.template emplace<1>();
                } else {
                    state->value.template emplace<1>(fn());
                }
            } catch (...) {
                state->value.template emplace<2>(std::current_exception());
            }
            // Under the lock, so that the home loop cannot be gone (it abandons first).
            std::lock_guard lock(state->mutex);
            if (!state->abandoned) state->home->call_soon_threadsafe([state] { state->deliver(); });
        });
        arm(&on_cancel);
        return true;
    }
    Result await_resume() {
        check();
        auto& v = result_->value;
        if (v.index() == 2) std::rethrow_exception(std::get<2>(v));
        if constexpr (!std::is_void_v<Result>) return std::move(std::get<1>(v));
    }

private:
    struct Unit {};
    using Value = std::conditional_t<std::is_void_v<Result>, Unit, Result>;
    struct State {
        std::mutex mutex;
        bool abandoned = false;
        RunInLoop* awaiter = nullptr;  // home thread only
        Reactor* home = nullptr;
        std::variant<std::monostate, Value, std::exception_ptr> value;
        void deliver() {  // on the home loop
            if (RunInLoop* a = std::exchange(awaiter, nullptr)) {
                a->result_ = std::move(a->state_);
                a->resume();
            }
        }
    };
    static void on_cancel(void* self) noexcept {
        auto* r = static_cast<RunInLoop*>(self);
        r->abandon();
        r->resume_with(detail::canceled_code());
    }
    void abandon() noexcept {
        if (!state_) return;
        state_->awaiter = nullptr;
        {
            std::lock_guard lock(state_->mutex);
            state_->abandoned = true;
        }
        state_.reset();
    }

    Reactor* target_;
    F fn_;
    std::shared_ptr<State> state_;   // while waiting
    std::shared_ptr<State> result_;  // once delivered
};

template <typename F>
RunInLoop<F> run_in_loop(Reactor& target, F fn) {
    return RunInLoop<F>(target, std::move(fn));
}

namespace detail {

template <typename A>
decltype(auto) awaiter_of(A&& a) {
    if constexpr (requires { std::forward<A>(a).operator co_await(); }) return std::forward<A>(a).operator co_await();
    else return std::forward<A>(a);
}
template <typename A>
using await_result_t = decltype(awaiter_of(std::declval<A>()).await_resume());

// The task's context, without suspending.
struct ThisContext {
    TaskContext* context = nullptr;
    bool await_ready() const noexcept { return false; }
    template <TaskPromise P>
    bool await_suspend(std::coroutine_handle<P> h) noexcept {
        context = h.promise().context;
        return false;
    }
    TaskContext& await_resume() const noexcept { return *context; }
};

// with_timeout's timer: when it fires, it cancels the await in progress.
class Deadline {
public:
    Deadline(TaskContext& context, Reactor::Clock::duration timeout) : context_(context) {
        timer_ = context.loop->call_later(timeout, [this] {
            expired_ = true;
            // Nothing cancellable pending (an await of someone else's): the next one is.
            if (!context_.cancel()) requested_ = true;
        });
    }
    ~Deadline() {
        timer_.cancel();
        if (requested_) context_.cancel_requested = false;  // the await finished first
    }
    Deadline(const Deadline&) = delete;
    Deadline& operator=(const Deadline&) = delete;
    bool expired() const noexcept { return expired_; }

private:
    TaskContext& context_;
    TimerHandle timer_;
    bool expired_ = false;
    bool requested_ = false;
};

}  // namespace detail

// Awaits awaitable, for at most timeout: then its await is cancelled and this throws
// std::system_error(std::errc::timed_out). Anything else it throws passes through, a
// cancel() of the task included (operation_canceled). The awaitable is moved into the
// with_timeout frame; that frame and the loop's timer record are its two allocations.
template <typename A>
Task<detail::await_result_t<A>> with_timeout(Reactor::Clock::duration timeout, A awaitable) {
    detail::TaskContext& context = co_await detail::ThisContext{};
    detail::Deadline deadline(context, timeout);
    try {
        co_return co_await std::move(awaitable);
    } catch (const std::system_error& e) {
        if (!deadline.expired() || e.code() != std::errc::operation_canceled) throw;
    }
    throw std::system_error(std::make_error_code(std::errc::timed_out));
}

}  // namespace iomux
