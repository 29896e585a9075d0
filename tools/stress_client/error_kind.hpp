// What can go wrong with one connection, counted by kind, with the first instance of each
// kind kept in words (one message per kind, not one per connection: 11000 identical
// "connection refused" lines help nobody).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace stress {

enum class ErrorKind : std::uint8_t {
    connect_refused,  // RST to our SYN: nothing listening (after the retries)
    connect_timeout,  // the handshake did not complete before the deadline
    connect_error,    // any other connect failure (no ephemeral port, no route, no fds...)
    reset,            // ECONNRESET / EPIPE on an established connection
    closed,           // the server closed the connection with no partial reply pending
    timeout,          // a reply did not start arriving before the deadline
    short_reply,      // part of a reply arrived, then nothing (deadline) or end of stream
    mismatch,         // a reply byte differs from what was sent (or expected), or bytes nobody asked for
    bad_status,       // an HTTP status outside --expect-status
    bad_reply,        // a reply that does not parse (HTTP framing)
    io_error,         // any other send/recv error
    interrupted,      // SIGINT / SIGTERM stopped the run with this connection unfinished
};
inline constexpr std::size_t kErrorKinds = 12;

// The JSON key, e.g. "connect_refused".
std::string_view name(ErrorKind kind) noexcept;
// For people, e.g. "connection refused".
std::string_view describe(ErrorKind kind) noexcept;

class ErrorLog {
public:
    // Counts one error; calls first_message() (returning std::string) only for the first
    // of its kind, so the hot path formats nothing.
    template <class F>
    void add(ErrorKind kind, F&& first_message) {
        const auto i = static_cast<std::size_t>(kind);
        if (counts_[i]++ == 0) first_[i] = first_message();
    }
    std::uint64_t count(ErrorKind kind) const noexcept { return counts_[static_cast<std::size_t>(kind)]; }
    const std::string& first(ErrorKind kind) const noexcept { return first_[static_cast<std::size_t>(kind)]; }
    std::uint64_t total() const noexcept;
    // Adds other's counts; other's first messages fill the kinds this log has none of.
    void merge(const ErrorLog& other);

private:
    std::array<std::uint64_t, kErrorKinds> counts_{};
    std::array<std::string, kErrorKinds> first_;
};

// Every kind, in declaration order, for loops over the report.
inline constexpr std::array<ErrorKind, kErrorKinds> kAllErrorKinds = {
    ErrorKind::connect_refused, ErrorKind::connect_timeout, ErrorKind::connect_error,
    ErrorKind::reset,           ErrorKind::closed,          ErrorKind::timeout,
    ErrorKind::short_reply,     ErrorKind::mismatch,        ErrorKind::bad_status,
    ErrorKind::bad_reply,       ErrorKind::io_error,        ErrorKind::interrupted,
};

}  // namespace stress
