// The differential test with fixed seeds: random byte strings, decoded into operation
// sequences (tests/differential/), applied to every backend of the build at once, which
// must agree (level-triggered ones on every ready set and errno, epoll-et on its edge
// contract). The same engine runs under libFuzzer in tests/fuzz/. Deterministic: a failure
// names the seed, the step and the operations before it.
#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tests/differential/differential.hpp"

namespace {

using iomux::differential::Differential;

constexpr std::uint32_t kSeeds = 2000;
constexpr std::size_t kOperations = 120;

std::vector<std::uint8_t> random_bytes(std::uint32_t seed, std::size_t n) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> byte(0, 255);
    std::vector<std::uint8_t> bytes(n);
    for (auto& b : bytes) b = static_cast<std::uint8_t>(byte(rng));
    return bytes;
}

}  // namespace

TEST_CASE("every backend agrees on every ready set and error, over random operation sequences") {
    Differential::Stats total;
    std::vector<std::string> backends;
    for (std::uint32_t seed = 1; seed <= kSeeds; ++seed) {
        Differential run;
        backends = run.backends();
        const auto problem = run.run(random_bytes(seed, 2 * kOperations));
        if (problem) FAIL(fmt::format("seed {}: {}", seed, *problem));
        const auto& s = run.stats();
        total.operations += s.operations;
        total.waits += s.waits;
        total.ready_reports += s.ready_reports;
        total.edge_reports += s.edge_reports;
        total.errors += s.errors;
        total.closed_registered += s.closed_registered;
    }
    MESSAGE(fmt::format("{} sequences on {}: {} operations, {} waits, {} fds reported ready, {} by edge-triggered "
                        "backends, {} errnos agreed, {} registered fds closed",
                        kSeeds, fmt::join(backends, ", "), total.operations, total.waits, total.ready_reports,
                        total.edge_reports, total.errors, total.closed_registered));
    // The sequences must have exercised what they claim to compare.
    CHECK(backends.size() >= 3);
    CHECK(total.ready_reports > kSeeds);
    CHECK(total.errors > 0);
    CHECK(total.closed_registered > 0);
    if (std::count(backends.begin(), backends.end(), "epoll-et") != 0) CHECK(total.edge_reports > 0);
}
