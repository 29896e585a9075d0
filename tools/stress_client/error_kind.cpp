#include "error_kind.hpp"

#include <numeric>
#include <utility>

namespace stress {
namespace {

// By kind, in declaration order: the JSON key, and the words for people.
constexpr std::pair<std::string_view, std::string_view> kText[kErrorKinds] = {
    {"connect_refused", "connection refused"},
    {"connect_timeout", "connect timed out"},
    {"connect_error", "connect failed"},
    {"reset", "reset by the server"},
    {"closed", "closed by the server"},
    {"timeout", "no reply before the deadline"},
    {"short_reply", "short reply"},
    {"mismatch", "reply differs from what was sent or expected"},
    {"bad_status", "unexpected HTTP status"},
    {"bad_reply", "malformed reply"},
    {"io_error", "I/O error"},
    {"interrupted", "interrupted"},
};

}  // namespace

std::string_view name(ErrorKind kind) noexcept { return kText[static_cast<std::size_t>(kind)].first; }

std::string_view describe(ErrorKind kind) noexcept { return kText[static_cast<std::size_t>(kind)].second; }

void ErrorLog::merge(const ErrorLog& other) {
    for (std::size_t i = 0; i < kErrorKinds; ++i) {
        if (counts_[i] == 0) first_[i] = other.first_[i];
        counts_[i] += other.counts_[i];
    }
}

std::uint64_t ErrorLog::total() const noexcept {
    return std::accumulate(counts_.begin(), counts_.end(), std::uint64_t{0});
}

}  // namespace stress
