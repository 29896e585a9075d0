// LatencyHistogram: round-trip times in fixed memory, HdrHistogram-style.
//
// Each power of two is split into 64 linear sub-buckets, so a reported percentile is within
// 1/64 (1.6 %) of the true value at any magnitude, from 1 ns to centuries, in 3776 counters
// (30 KiB) allocated once. Recording is a bit_width and an increment: cheap enough to call
// for every message, and memory does not grow with the run's length.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace stress {

class LatencyHistogram {
public:
    LatencyHistogram();

    void record(std::int64_t ns) noexcept;
    void merge(const LatencyHistogram& other);

    std::uint64_t count() const noexcept { return count_; }
    std::int64_t min() const noexcept { return count_ ? min_ : 0; }
    std::int64_t max() const noexcept { return count_ ? max_ : 0; }
    double mean() const noexcept { return count_ ? sum_ / static_cast<double>(count_) : 0.0; }
    // The value at or below which p percent of the samples fall (p in [0, 100]): the top of
    // that sample's bucket, clamped to [min, max]. 0 when empty.
    std::int64_t percentile(double p) const noexcept;

    double sum() const noexcept { return sum_; }

    // The non-empty buckets as (bucket, count), and a histogram rebuilt from them with its
    // min, max and sum: how a --workers process hands its histogram to the parent, which
    // merges histograms, never percentiles.
    std::vector<std::pair<std::size_t, std::uint64_t>> nonempty() const;
    // Throws std::out_of_range for a bucket that does not exist.
    static LatencyHistogram restore(const std::vector<std::pair<std::size_t, std::uint64_t>>& buckets,
                                    std::int64_t min, std::int64_t max, double sum);

    // Exposed for the tests of the bucket arithmetic.
    static std::size_t bucket_of(std::int64_t ns) noexcept;
    static std::int64_t bucket_top(std::size_t bucket) noexcept;

private:
    std::vector<std::uint64_t> counts_;
    std::uint64_t count_ = 0;
    std::int64_t min_ = 0, max_ = 0;
    double sum_ = 0;
};

}  // namespace stress
