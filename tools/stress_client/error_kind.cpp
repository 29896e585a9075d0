#include "error_kind.hpp"

#include <numeric>

namespace stress {

std::string_view name(ErrorKind kind) noexcept {
    switch (kind) {
    case ErrorKind::connect_refused: return "connect_refused";
    case ErrorKind::connect_timeout: return "connect_timeout";
    case ErrorKind::connect_error: return "connect_error";
    case ErrorKind::reset: return "reset";
    case ErrorKind::closed: return "closed";
    case ErrorKind::timeout: return "timeout";
    case ErrorKind::short_reply: return "short_reply";
    case ErrorKind::mismatch: return "mismatch";
    case ErrorKind::io_error: return "io_error";
    case ErrorKind::interrupted: return "interrupted";
    }
    return "unknown";
}

std::string_view describe(ErrorKind kind) noexcept {
    switch (kind) {
    case ErrorKind::connect_refused: return "connection refused";
    case ErrorKind::connect_timeout: return "connect timed out";
    case ErrorKind::connect_error: return "connect failed";
    case ErrorKind::reset: return "reset by the server";
    case ErrorKind::closed: return "closed by the server";
    case ErrorKind::timeout: return "no reply before the deadline";
    case ErrorKind::short_reply: return "short reply";
    case ErrorKind::mismatch: return "reply differs from what was sent";
    case ErrorKind::io_error: return "I/O error";
    case ErrorKind::interrupted: return "interrupted";
    }
    return "unknown";
}

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
