#include "stream_content.hpp"

#include <algorithm>
#include <stdexcept>

namespace stress {

MessageSequence::MessageSequence(std::vector<std::string> messages) : messages_(std::move(messages)) {
    for (const std::string& m : messages_) {
        if (m.empty()) throw std::invalid_argument("a message must not be empty");
        stream_ += m;
        ends_.push_back(stream_.size());
    }
}

std::span<const char> MessageSequence::at(std::uint32_t, std::uint64_t offset) const noexcept {
    if (offset >= stream_.size()) return {};
    return std::span<const char>(stream_).subspan(static_cast<std::size_t>(offset));
}

std::uint64_t MessageSequence::messages_end(std::uint64_t n) const noexcept {
    return n == 0 ? 0 : ends_[std::min<std::uint64_t>(n, ends_.size()) - 1];
}

PatternStream::PatternStream(std::uint32_t msg_size) : msg_size_(msg_size), pattern_(2 * kPeriod) {
    // xorshift64: fixed seed, so a failing run can be reproduced byte for byte.
    std::uint64_t x = 0x9E3779B97F4A7C15ull;
    for (std::size_t i = 0; i < kPeriod; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        pattern_[i] = pattern_[i + kPeriod] = static_cast<char>(x >> 56);
    }
}

std::span<const char> PatternStream::at(std::uint32_t conn, std::uint64_t offset) const noexcept {
    // 7919 (prime) apart: neighbouring connections start far from each other.
    const std::uint64_t start = (offset + std::uint64_t{conn} * 7919u) % kPeriod;
    return std::span<const char>(pattern_).subspan(static_cast<std::size_t>(start), kPeriod);
}

}  // namespace stress
