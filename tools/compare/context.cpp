#include <fmt/format.h>

#include "workloads.hpp"

namespace iomux::compare {

void Context::progress(std::string_view line) const {
    if (options.quiet) return;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    fmt::print(stderr, "[iomux_compare {:6.1f} s] {}\n", elapsed, line);
}

std::vector<std::string> Context::rows() const {
    std::vector<std::string> names;
    if (options.bare) names.emplace_back(kBareEpoll);
    names.insert(names.end(), backends.begin(), backends.end());
    names.insert(names.end(), peers.begin(), peers.end());
    return names;
}

}  // namespace iomux::compare
