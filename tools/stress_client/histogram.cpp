#include "histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

namespace stress {
namespace {

// Values below 2^kSubBits get a bucket each; above, the top kSubBits bits of a value pick
// its bucket (the leading one of them is implied by the exponent, hence kHalf per octave).
constexpr unsigned kSubBits = 7;
constexpr std::uint64_t kHalf = std::uint64_t{1} << (kSubBits - 1);
constexpr std::size_t kBuckets = (64 - kSubBits) * kHalf + 2 * kHalf;

}  // namespace

LatencyHistogram::LatencyHistogram() : counts_(kBuckets, 0) {}

std::size_t LatencyHistogram::bucket_of(std::int64_t ns) noexcept {
    const auto v = static_cast<std::uint64_t>(std::max<std::int64_t>(ns, 0));
    const unsigned width = static_cast<unsigned>(std::bit_width(v));
    const unsigned shift = width > kSubBits ? width - kSubBits : 0;
    return static_cast<std::size_t>(shift * kHalf + (v >> shift));
}

std::int64_t LatencyHistogram::bucket_top(std::size_t bucket) noexcept {
    if (bucket < 2 * kHalf) return static_cast<std::int64_t>(bucket);
    const std::uint64_t shift = bucket / kHalf - 1;
    const std::uint64_t mantissa = bucket - shift * kHalf;
    const std::uint64_t top = ((mantissa + 1) << shift) - 1;
    return top > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
               ? std::numeric_limits<std::int64_t>::max()
               : static_cast<std::int64_t>(top);
}

void LatencyHistogram::record(std::int64_t ns) noexcept {
    ns = std::max<std::int64_t>(ns, 0);
    ++counts_[bucket_of(ns)];
    if (count_ == 0 || ns < min_) min_ = ns;
    if (count_ == 0 || ns > max_) max_ = ns;
    ++count_;
    sum_ += static_cast<double>(ns);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
    if (other.count_ == 0) return;
    for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    min_ = count_ ? std::min(min_, other.min_) : other.min_;
    max_ = count_ ? std::max(max_, other.max_) : other.max_;
    count_ += other.count_;
    sum_ += other.sum_;
}

std::vector<std::pair<std::size_t, std::uint64_t>> LatencyHistogram::nonempty() const {
    std::vector<std::pair<std::size_t, std::uint64_t>> out;
    for (std::size_t i = 0; i < kBuckets; ++i)
        if (counts_[i]) out.emplace_back(i, counts_[i]);
    return out;
}

LatencyHistogram LatencyHistogram::restore(const std::vector<std::pair<std::size_t, std::uint64_t>>& buckets,
                                           std::int64_t min, std::int64_t max, double sum) {
    LatencyHistogram h;
    for (const auto& [bucket, count] : buckets) {
        h.counts_.at(bucket) += count;
        h.count_ += count;
    }
    h.min_ = min;
    h.max_ = max;
    h.sum_ = sum;
    return h;
}

std::int64_t LatencyHistogram::percentile(double p) const noexcept {
    if (count_ == 0) return 0;
    const double clamped = std::clamp(p, 0.0, 100.0);
    auto rank = static_cast<std::uint64_t>(std::ceil(clamped / 100.0 * static_cast<double>(count_)));
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
        seen += counts_[i];
        if (seen >= rank) return std::clamp(bucket_top(i), min_, max_);
    }
    return max_;
}

}  // namespace stress
