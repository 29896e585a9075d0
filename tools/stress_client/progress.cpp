#include "progress.hpp"

#include <chrono>
#include <cstdio>

#include <fmt/format.h>

namespace stress {
namespace {

constexpr auto kRedraw = std::chrono::milliseconds(100);
constexpr std::size_t kWidth = 30;

}  // namespace

void Progress::begin(std::string label, Counter counter) {
    timer_.cancel();
    label_ = std::move(label);
    counter_ = std::move(counter);
    if (style_ != Style::bar) return;
    draw();
    timer_ = loop_.call_later(kRedraw, [this] { tick(); });
}

void Progress::tick() {
    draw();
    timer_ = loop_.call_later(kRedraw, [this] { tick(); });
}

void Progress::draw() {
    const auto [done, total] = counter_ ? counter_() : std::pair<std::uint64_t, std::uint64_t>{0, 0};
    const double frac = total ? std::min(1.0, static_cast<double>(done) / static_cast<double>(total)) : 0.0;
    const auto filled = static_cast<std::size_t>(frac * kWidth);
    // \r and erase-to-end-of-line: the bar rewrites itself in place.
    fmt::print("\r{:<24} [{:#<{}}{:<{}}] {}/{} {:3.0f}%\x1b[K", label_, "", filled, "", kWidth - filled, done, total,
               frac * 100);
    std::fflush(stdout);
}

void Progress::end(std::string_view summary) {
    timer_.cancel();
    counter_ = nullptr;  // it captures the workload, which may go before we do
    if (style_ == Style::off) return;
    fmt::print("{}{}: {}\n", style_ == Style::bar ? "\r\x1b[K" : "", label_, summary);
    std::fflush(stdout);
}

}  // namespace stress
