#include "tests/differential/edge_contract.hpp"

#include <fmt/format.h>

namespace iomux::differential {

std::string to_string(const ReadySet& ready) {
    std::string s;
    for (const auto& [fd, events] : ready) s += fmt::format("{}{}:{}", s.empty() ? "" : " ", fd, events);
    return s.empty() ? "(none)" : s;
}

std::optional<std::string> EdgeContract::check(const ReadySet& edge, const ReadySet& level) {
    std::optional<std::string> broken;
    for (const auto& [fd, events] : edge) {
        const auto it = level.find(fd);
        if (it == level.end() || it->second != events) {
            broken = fmt::format("edge-triggered reported fd {} with events {}, level-triggered {}", fd, events,
                                 it == level.end() ? 0u : it->second);
        } else if (!touched_.contains(fd)) {
            broken = fmt::format("edge-triggered reported fd {} again, with no new edge since the last wait", fd);
        }
        if (broken) break;
    }
    if (!broken) {
        for (const int fd : edged_) {
            if (level.contains(fd) && !edge.contains(fd)) {
                broken = fmt::format("edge-triggered missed a new edge on fd {}, ready for {}", fd, level.at(fd));
                break;
            }
        }
    }
    touched_.clear();
    edged_.clear();
    if (broken) *broken += fmt::format(" (edge-triggered: {}; level-triggered: {})", to_string(edge), to_string(level));
    return broken;
}

}  // namespace iomux::differential
