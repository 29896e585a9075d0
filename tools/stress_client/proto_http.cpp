// HTTP/1.1: the same request head on every request (--method, --path, --header), many in
// flight per connection (pipelining, answered in order), each response framed by its
// Content-Length or chunked encoding, its status checked (--expect-status) and counted, its
// body compared with --expect when given. A server that ends a keep-alive connection
// between responses (keepalive_requests, idle timeouts, "Connection: close") is reconnected
// by the engine and the unanswered requests sent again.
//
// The parser is incremental and keeps about 64 bytes per connection: the head is read a
// line at a time through a short buffer (only a few header names matter, and they are
// short), bodies are skipped or compared in bulk.
#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <string_view>

#include <fmt/format.h>

#include "protocol.hpp"

namespace stress {
namespace {

constexpr std::size_t kLine = 40;

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), s.begin(), [](char lower, char c) {
               return std::tolower(static_cast<unsigned char>(c)) == lower;
           });
}

bool contains_nocase(std::string_view s, std::string_view word) {
    for (std::size_t i = 0; i + word.size() <= s.size(); ++i)
        if (starts_with_nocase(s.substr(i), word)) return true;
    return false;
}

class Http final : public Protocol {
public:
    Http(const ProtocolSpec& spec, std::uint32_t conns) : spec_(spec), conns_(conns) {}

    std::string_view name() const noexcept override { return "http"; }
    std::span<const char> request(std::uint32_t, std::uint64_t offset) const noexcept override {
        return std::span<const char>(spec_.request).subspan(offset % spec_.request.size());
    }
    std::uint64_t requests_end(std::uint64_t n) const noexcept override { return n * spec_.request.size(); }

    std::int64_t check(std::uint32_t c, const ConnStream& at, std::span<const char> data, bool first,
                       ReplyError* error) override {
        Parse& p = conns_[c];
        std::int64_t replies = 0;
        auto fail = [&](ErrorKind kind, std::string_view format, const auto&... args) {
            error->kind = kind;
            if (first) error->detail = fmt::format(fmt::runtime(format), args...);
            return std::int64_t{-1};
        };
        for (std::size_t i = 0; i < data.size();) {
            if (p.phase == Phase::body || p.phase == Phase::chunk_data) {
                const auto m = static_cast<std::size_t>(std::min<std::uint64_t>(p.remaining, data.size() - i));
                if (!spec_.expect.empty()) {
                    const std::string_view want = std::string_view(spec_.expect).substr(std::min<std::size_t>(p.body_at, spec_.expect.size()));
                    const std::string_view got(data.data() + i, m);
                    const auto diff = static_cast<std::size_t>(
                        std::mismatch(got.begin(), got.begin() + std::min(m, want.size()), want.begin()).first - got.begin());
                    if (diff < std::min(m, want.size()))
                        return fail(ErrorKind::mismatch, "response {}: body byte {} is {}, expected {}",
                                    at.answered + replies + 1, p.body_at + diff, show_byte(got[diff]), show_byte(want[diff]));
                }
                p.body_at += m;
                p.remaining -= m;
                i += m;
                if (p.remaining > 0) break;
                if (p.phase == Phase::chunk_data) {
                    p.phase = Phase::chunk_end;
                    continue;
                }
            } else {
                const char ch = data[i++];
                if (ch != '\n') {
                    if (p.line_len < kLine) p.line[p.line_len] = ch;
                    ++p.line_len;
                    continue;
                }
                std::string_view line(p.line.data(), std::min<std::size_t>(p.line_len, kLine));
                const bool whole = p.line_len <= kLine;
                if (!line.empty() && line.back() == '\r' && whole) line.remove_suffix(1);
                p.line_len = 0;
                if (p.phase == Phase::status_line) {
                    if (at.answered + replies >= at.asked)
                        return fail(ErrorKind::bad_reply, "a response to no request: {:?}", line);
                    int status = 0;
                    if (line.size() < 12 || !line.starts_with("HTTP/1.") || line[8] != ' ' ||
                        std::from_chars(line.data() + 9, line.data() + 12, status).ptr != line.data() + 12)
                        return fail(ErrorKind::bad_reply, "response {}: not an HTTP/1.x status line: {:?}",
                                    at.answered + replies + 1, line);
                    p = Parse{};
                    p.status = static_cast<std::uint16_t>(status);
                    p.phase = Phase::head;
                    continue;
                }
                if (p.phase == Phase::chunk_end) {
                    if (!line.empty()) return fail(ErrorKind::bad_reply, "a chunk not followed by CRLF: {:?}", line);
                    p.phase = Phase::chunk_size;
                    continue;
                }
                if (p.phase == Phase::chunk_size) {
                    std::uint64_t size = 0;
                    const auto r = std::from_chars(line.data(), line.data() + line.size(), size, 16);
                    if (r.ec != std::errc{} || r.ptr == line.data())
                        return fail(ErrorKind::bad_reply, "response {}: not a chunk size: {:?}", at.answered + replies + 1, line);
                    p.remaining = size;
                    p.phase = size == 0 ? Phase::trailers : Phase::chunk_data;
                    continue;
                }
                if (!line.empty()) {  // a header (or a trailer, ignored)
                    if (p.phase == Phase::trailers) continue;
                    const bool framing = starts_with_nocase(line, "content-length:") ||
                                         starts_with_nocase(line, "transfer-encoding:") ||
                                         starts_with_nocase(line, "connection:");
                    if (framing && !whole) return fail(ErrorKind::bad_reply, "a framing header too long: {:?}...", line);
                    if (starts_with_nocase(line, "content-length:")) {
                        std::string_view v = line.substr(15);
                        while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
                        const auto r = std::from_chars(v.data(), v.data() + v.size(), p.remaining);
                        if (r.ec != std::errc{}) return fail(ErrorKind::bad_reply, "a bad Content-Length: {:?}", line);
                        p.has_length = true;
                    } else if (starts_with_nocase(line, "transfer-encoding:")) {
                        p.chunked = contains_nocase(line, "chunked");
                    } else if (starts_with_nocase(line, "connection:")) {
                        p.close = contains_nocase(line, "close");
                    }
                    continue;
                }
                if (p.phase == Phase::head) {  // the end of the head
                    if (p.status < 200) {      // 1xx: an interim response, the real one follows
                        p.phase = Phase::status_line;
                        continue;
                    }
                    const bool bodiless = this->bodiless(p);
                    if (!bodiless && p.chunked) {
                        p.phase = Phase::chunk_size;
                        continue;
                    }
                    if (!bodiless && !p.has_length)
                        return fail(ErrorKind::bad_reply, "response {} (status {}) has neither Content-Length nor chunked "
                                    "encoding: its end cannot be found on a keep-alive connection",
                                    at.answered + replies + 1, p.status);
                    if (!bodiless && p.remaining > 0) {
                        p.phase = Phase::body;
                        continue;
                    }
                }
            }
            // A response is complete.
            ++counts_[std::min<std::uint16_t>(p.status, 999)];
            ++replies;
            if (p.status < spec_.status_min || p.status > spec_.status_max)
                return fail(ErrorKind::bad_status, "response {}: status {}, expected {}-{}", at.answered + replies, p.status,
                            spec_.status_min, spec_.status_max);
            if (!spec_.expect.empty() && !bodiless(p) && p.body_at != spec_.expect.size())
                return fail(ErrorKind::mismatch, "response {}: the body is {} bytes, expected {}", at.answered + replies,
                            p.body_at, spec_.expect.size());
            const bool close = p.close;
            p = Parse{};
            p.closing = close;
        }
        return replies;
    }

    bool mid_reply(std::uint32_t c, const ConnStream&) const noexcept override {
        const Parse& p = conns_[c];
        return p.phase != Phase::status_line || p.line_len > 0;
    }

    bool may_reconnect(std::uint32_t c, const ConnStream& at) const noexcept override {
        // At least one answer on this connection: a server that closes before answering
        // anything would be reconnected forever.
        return !mid_reply(c, at) && (at.answered > 0 || conns_[c].closing);
    }

    void restart(std::uint32_t c) noexcept override { conns_[c] = Parse{}; }

    std::map<std::string, std::uint64_t> statuses() const override {
        std::map<std::string, std::uint64_t> out;
        for (std::size_t s = 0; s < counts_.size(); ++s)
            if (counts_[s]) out[std::to_string(s)] = counts_[s];
        return out;
    }

private:
    enum class Phase : std::uint8_t { status_line, head, body, chunk_size, chunk_data, chunk_end, trailers };
    struct Parse {
        Phase phase = Phase::status_line;
        bool chunked = false, has_length = false, close = false;
        bool closing = false;         // the last response said "Connection: close"
        std::uint16_t status = 0;
        std::uint32_t line_len = 0;   // of the line so far; only kLine bytes of it are kept
        std::uint64_t remaining = 0;  // body or chunk bytes still to come
        std::uint64_t body_at = 0;    // body bytes so far, for --expect
        std::array<char, kLine> line;
    };

    bool bodiless(const Parse& p) const noexcept { return spec_.head || p.status == 204 || p.status == 304; }

    const ProtocolSpec spec_;
    std::vector<Parse> conns_;
    std::array<std::uint64_t, 1000> counts_{};
};

}  // namespace

std::unique_ptr<Protocol> make_http(const ProtocolSpec& spec, std::uint32_t conns) {
    return std::make_unique<Http>(spec, conns);
}

}  // namespace stress
