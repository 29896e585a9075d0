// Progress: what the run is doing, for the person watching.
//
// On a terminal, a bar per stage redrawn ten times a second from a reactor timer (the
// stage's counter is polled, so the hot path pays nothing per event); otherwise one plain
// line per finished stage, for logs; off with --json (stdout then carries only the JSON).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "reactor/reactor.hpp"

namespace stress {

class Progress {
public:
    enum class Style { bar, lines, off };
    // (done, total) of the current stage.
    using Counter = std::function<std::pair<std::uint64_t, std::uint64_t>()>;

    Progress(iomux::Reactor& loop, Style style) : loop_(loop), style_(style) {}
    ~Progress() { timer_.cancel(); }
    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;

    void begin(std::string label, Counter counter);
    // Ends the stage: the bar (if any) is replaced by "label: summary".
    void end(std::string_view summary);
    Style style() const noexcept { return style_; }

private:
    void tick();
    void draw();

    iomux::Reactor& loop_;
    Style style_;
    std::string label_;
    Counter counter_;
    iomux::TimerHandle timer_;
};

}  // namespace stress
