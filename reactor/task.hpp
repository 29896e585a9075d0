// Task<T> and spawn(): C++20 coroutines on a Reactor.
//
//   iomux::Task<int> answer() { co_await iomux::sleep(10ms); co_return 42; }
//   iomux::Task<> main_task() { int v = co_await answer(); ... }
//   iomux::TaskHandle h = iomux::spawn(loop, main_task());
//   loop.run();
//
// A Task is lazy: its body starts when it is awaited (or spawned), and it is awaited at most
// once. Awaiting one transfers control to it and back symmetrically, so a chain of a million
// awaits does not grow the stack. An exception the body lets escape is rethrown by the
// co_await that awaited it.
//
// spawn() runs a Task<void> detached, starting in the loop's next iteration; the loop owns
// it (Reactor::owned()) until it ends, so nothing has to keep it. An exception escaping it
// goes to the loop's exception handler (fd -1), as one escaping a callback does. Destroying
// the loop with tasks still suspended destroys their frames, running the destructors of
// their locals; they are not resumed.
//
// Cancellation (asyncio's Task.cancel): TaskHandle::cancel() resumes the task's pending
// await with std::system_error(std::errc::operation_canceled). The awaitables of iomux
// (awaitables.hpp, stream.hpp) all honour it; when the task is running, or in an await that
// cannot be interrupted, its next cancellable await throws instead. One cancel() cancels
// one await: a task may catch it and go on, as in asyncio.
//
// Every awaitable of iomux finds its loop through the task that awaits it, so they can be
// awaited only from a Task (a compile error elsewhere). One thread, the loop's, runs a task.
#pragma once

#include <cassert>
#include <concepts>
#include <coroutine>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <type_traits>
#include <utility>

#include "reactor/owned.hpp"
#include "reactor/reactor.hpp"

namespace iomux {

template <typename T = void>
class Task;
class TaskHandle;
TaskHandle spawn(Reactor& loop, Task<void> task);

namespace detail {

// What a spawned task and every coroutine it awaits share (they run one at a time): the
// loop, and the one await the task is parked in, for cancel() and with_timeout.
struct TaskContext {
    explicit TaskContext(Reactor& l) noexcept : loop(&l) {}

    Reactor* loop;
    // Set by an await while it is suspended and cancellable: cancel_fn(cancel_arg) unhooks it
    // and resumes the task with operation_canceled.
    void (*cancel_fn)(void*) noexcept = nullptr;
    void* cancel_arg = nullptr;
    bool cancel_requested = false;  // for the next cancellable await
    bool done = false;

    void arm(void* arg, void (*fn)(void*) noexcept) noexcept {
        cancel_arg = arg;
        cancel_fn = fn;
    }
    void disarm() noexcept { cancel_fn = nullptr; }
    // Consumed by the await that honours it.
    bool take_cancel_request() noexcept { return std::exchange(cancel_requested, false); }
    // Cancels the pending await, or the next one. True when one was pending (and has been
    // resumed by now).
    bool cancel() noexcept {
        if (done) return false;
        if (cancel_fn == nullptr) {
            cancel_requested = true;
            return false;
        }
        auto fn = std::exchange(cancel_fn, nullptr);
        fn(cancel_arg);
        return true;
    }
};

inline std::system_error canceled_error() {
    return std::system_error(std::make_error_code(std::errc::operation_canceled));
}

// The promise of a coroutine iomux's awaitables can find their loop through.
template <typename P>
concept TaskPromise = requires(P& p) {
    { p.context } -> std::convertible_to<TaskContext*>;
};

class SpawnedTask;

class PromiseBase {
public:
    std::suspend_always initial_suspend() noexcept { return {}; }

    struct FinalAwaiter {
        bool await_ready() noexcept { return false; }
        template <typename P>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
            PromiseBase& p = h.promise();
            if (p.continuation) return p.continuation;
            return p.finish_detached();
        }
        void await_resume() noexcept {}
    };
    FinalAwaiter final_suspend() noexcept { return {}; }
    void unhandled_exception() noexcept { exception = std::current_exception(); }

    TaskContext* context = nullptr;          // set when awaited or spawned
    std::coroutine_handle<> continuation;    // the awaiter; none for a spawned task
    std::exception_ptr exception;
    SpawnedTask* spawned = nullptr;          // the loop's record of a spawned task

private:
    std::coroutine_handle<> finish_detached() noexcept;
};

template <typename T>
class Promise : public PromiseBase {
public:
    Task<T> get_return_object() noexcept;
    template <typename U>
        requires std::convertible_to<U&&, T>
    void return_value(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
        value.emplace(std::forward<U>(v));
    }
    std::optional<T> value;
};

template <>
class Promise<void> : public PromiseBase {
public:
    Task<void> get_return_object() noexcept;
    void return_void() noexcept {}
};

// The loop's record of a detached task: destroying it destroys the frame.
class SpawnedTask final : public Owned {
public:
    SpawnedTask(std::coroutine_handle<> h, std::shared_ptr<TaskContext> context) noexcept
        : handle_(h), context_(std::move(context)) {}
    ~SpawnedTask() override {
        context_->done = true;
        context_->disarm();
        handle_.destroy();  // the locals' destructors unhook their awaits
    }
    void start() noexcept { handle_.resume(); }

private:
    std::coroutine_handle<> handle_;
    std::shared_ptr<TaskContext> context_;
};

inline std::coroutine_handle<> PromiseBase::finish_detached() noexcept {
    Reactor& loop = *context->loop;
    std::exception_ptr e = std::move(exception);
    loop.owned().destroy(*spawned);  // destroys this frame: nothing of it is touched after
    // Deferred, so that a handler that throws leaves run_once(), as for callbacks.
    if (e) loop.call_soon([e] { std::rethrow_exception(e); });
    return std::noop_coroutine();
}

}  // namespace detail

template <typename T>
class [[nodiscard]] Task {
    static_assert(!std::is_reference_v<T>, "Task<T>: T is a value (a pointer for a reference) or void");

public:
    using promise_type = detail::Promise<T>;

    Task() = default;
    Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
    Task& operator=(Task&& other) noexcept {
        if (this != &other) {
            if (handle_) handle_.destroy();
            handle_ = std::exchange(other.handle_, {});
        }
        return *this;
    }
    ~Task() {
        if (handle_) handle_.destroy();
    }

    // True once the body has run to its end.
    bool done() const noexcept { return handle_ && handle_.done(); }

    struct Awaiter {
        std::coroutine_handle<promise_type> handle;

        bool await_ready() const {
            if (!handle || handle.done()) throw std::logic_error("iomux::Task awaited twice, or empty");
            return false;
        }
        template <detail::TaskPromise P>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<P> caller) noexcept {
            handle.promise().continuation = caller;
            handle.promise().context = caller.promise().context;
            return handle;
        }
        T await_resume() {
            promise_type& p = handle.promise();
            if (p.exception) std::rethrow_exception(std::exchange(p.exception, nullptr));
            if constexpr (!std::is_void_v<T>) return std::move(*p.value);
        }
    };
    // Awaited as an rvalue: co_await f(), or co_await std::move(task).
    Awaiter operator co_await() && noexcept { return Awaiter{handle_}; }

private:
    friend promise_type;
    friend TaskHandle spawn(Reactor& loop, Task<void> task);
    explicit Task(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}
    std::coroutine_handle<promise_type> handle_;
};

template <typename T>
Task<T> detail::Promise<T>::get_return_object() noexcept {
    return Task<T>(std::coroutine_handle<Promise<T>>::from_promise(*this));
}
inline Task<void> detail::Promise<void>::get_return_object() noexcept {
    return Task<void>(std::coroutine_handle<Promise<void>>::from_promise(*this));
}

// A spawned task, as its spawner sees it; copies share it; valid after the task (and its
// loop) ended: then cancel() does nothing.
class TaskHandle {
public:
    TaskHandle() = default;
    // See "Cancellation" above. Resumes the task inline when its await was pending: call it
    // from the loop's thread.
    void cancel() noexcept {
        if (context_) context_->cancel();
    }
    bool done() const noexcept { return !context_ || context_->done; }

private:
    friend TaskHandle spawn(Reactor& loop, Task<void> task);
    explicit TaskHandle(std::shared_ptr<detail::TaskContext> c) noexcept : context_(std::move(c)) {}
    std::shared_ptr<detail::TaskContext> context_;
};

// Runs task detached on loop, from the loop's next iteration. std::invalid_argument for an
// empty or already started task.
inline TaskHandle spawn(Reactor& loop, Task<void> task) {
    auto handle = task.handle_;
    if (!handle || handle.done() || handle.promise().context)
        throw std::invalid_argument("spawn needs a Task that has not started");
    auto context = std::make_shared<detail::TaskContext>(loop);
    auto record = std::make_unique<detail::SpawnedTask>(handle, context);
    task.handle_ = {};  // the record owns the frame now
    detail::SpawnedTask& spawned = *record;
    handle.promise().context = context.get();
    handle.promise().spawned = &spawned;
    loop.owned().adopt(std::move(record));
    // Not run here: the spawner goes on first, as with asyncio's create_task. The loop
    // destroys its queue unrun if it is destroyed first, along with the record.
    loop.call_soon([&spawned] { spawned.start(); });
    return TaskHandle(std::move(context));
}

}  // namespace iomux
