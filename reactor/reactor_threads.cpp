#include "reactor/reactor_threads.hpp"

#include <pthread.h>

#include <cstdio>
#include <string>

#include <fmt/format.h>

namespace iomux {

ReactorThreads::ReactorThreads(std::size_t n, std::string_view backend, Body body) {
    if (!body) body = [](std::size_t, Reactor& loop) { loop.run(); };
    loops_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) loops_.push_back(std::make_unique<Reactor>(backend));
    // The threads share one body; it lives in a shared_ptr so that no thread outlives it.
    auto shared_body = std::make_shared<const Body>(std::move(body));
    threads_.reserve(n);
    try {
        for (std::size_t i = 0; i < n; ++i) {
            threads_.emplace_back([this, i, shared_body] { run_thread(i, *shared_body); });
            // Names show in top -H, perf and gdb; 15 characters at most.
            const std::string name = fmt::format("iomux-loop-{}", i).substr(0, 15);
            ::pthread_setname_np(threads_.back().native_handle(), name.c_str());
        }
    } catch (...) {
        stop();
        for (std::thread& t : threads_) t.join();
        throw;
    }
}

ReactorThreads::~ReactorThreads() {
    stop();
    for (std::thread& t : threads_)
        if (t.joinable()) t.join();
    std::lock_guard lock(failure_mutex_);
    if (failure_)
        fmt::print(stderr, "iomux: loop thread {} ended with an exception: {}\n", failed_index_, describe_exception(failure_));
}

void ReactorThreads::run_thread(std::size_t index, const Body& body) noexcept {
    try {
        body(index, *loops_[index]);
    } catch (...) {
        {
            std::lock_guard lock(failure_mutex_);
            if (!failure_) {
                failure_ = std::current_exception();
                failed_index_ = index;
            }
        }
        stop();  // so that join() returns instead of waiting on loops that serve on
    }
}

void ReactorThreads::stop() noexcept {
    for (const auto& loop : loops_) loop->stop();
}

void ReactorThreads::join() {
    for (std::thread& t : threads_)
        if (t.joinable()) t.join();
    std::exception_ptr failure;
    {
        std::lock_guard lock(failure_mutex_);
        failure.swap(failure_);
    }
    if (failure) std::rethrow_exception(failure);
}

}  // namespace iomux
