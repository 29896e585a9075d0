// What each connection sends, as a function of the offset in its byte stream. An echo
// must return exactly these bytes, so the same function verifies replies: no connection
// needs a buffer of its own for what it sent.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace stress {

class StreamContent {
public:
    virtual ~StreamContent() = default;
    // The bytes that connection `conn` sends from stream offset `offset` on, as one
    // contiguous run: at least one byte, or none past the end of a finite stream.
    virtual std::span<const char> at(std::uint32_t conn, std::uint64_t offset) const noexcept = 0;
    // The stream offset where the first n messages end: an echo of them is complete there.
    virtual std::uint64_t messages_end(std::uint64_t n) const noexcept = 0;
};

// The material's client: every connection sends the same messages, one after another.
inline const std::vector<std::string> kMaterialMessages = {
    "This is the message. ",
    "It will be sent ",
    "in parts.",
};

class MessageSequence final : public StreamContent {
public:
    explicit MessageSequence(std::vector<std::string> messages);

    std::span<const char> at(std::uint32_t conn, std::uint64_t offset) const noexcept override;
    std::uint64_t messages_end(std::uint64_t n) const noexcept override;

private:
    std::vector<std::string> messages_;
    std::string stream_;
    std::vector<std::uint64_t> ends_;
};

// Sustained mode: an endless pseudo-random byte pattern, started at a different place for
// each connection, so that a dropped, duplicated or reordered byte, or bytes crossed
// between two connections, show up as a mismatch within a few bytes.
class PatternStream final : public StreamContent {
public:
    explicit PatternStream(std::uint32_t msg_size);

    std::span<const char> at(std::uint32_t conn, std::uint64_t offset) const noexcept override;
    std::uint64_t messages_end(std::uint64_t n) const noexcept override { return n * msg_size_; }

    // Longest run at() returns; replies are verified in pieces no longer than this.
    static constexpr std::size_t kPeriod = 65521;  // prime: never in step with a message size

private:
    std::uint64_t msg_size_;
    std::vector<char> pattern_;  // two periods back to back: any window of kPeriod is contiguous
};

}  // namespace stress
