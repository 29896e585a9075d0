// Expect: every request is the same bytes (--request) and every reply must be exactly the
// expected bytes (--expect), for line and binary protocols (Redis PING -> +PONG). A reply is
// complete when the expected number of bytes arrived; it may come in any number of pieces.
// Replies are a function of the offset too: reply k is bytes [k*E, (k+1)*E) of the stream.
#include <algorithm>

#include <fmt/format.h>

#include "protocol.hpp"

namespace stress {
namespace {

class Expect final : public Protocol {
public:
    explicit Expect(const ProtocolSpec& spec) : request_(spec.request), expect_(spec.expect) {}

    std::string_view name() const noexcept override { return "expect"; }
    std::span<const char> request(std::uint32_t, std::uint64_t offset) const noexcept override {
        return std::span<const char>(request_).subspan(offset % request_.size());
    }
    std::uint64_t requests_end(std::uint64_t n) const noexcept override { return n * request_.size(); }

    std::int64_t check(std::uint32_t, const ConnStream& at, std::span<const char> data, bool first,
                       ReplyError* error) override {
        const std::uint64_t size = expect_.size(), limit = std::uint64_t{at.asked} * size;
        for (std::size_t i = 0; i < data.size(); ++i) {
            const std::uint64_t offset = at.received + i;
            if (offset >= limit) {
                if (first)
                    error->detail = fmt::format("{} bytes more than the {} replies asked for, from reply byte {}: {}",
                                                at.received + data.size() - limit, at.asked, offset - (limit - size),
                                                show_byte(data[i]));
                return -1;
            }
            if (data[i] != expect_[offset % size]) {
                if (first)
                    error->detail = fmt::format("reply {} differs at byte {}: {}, expected {}", offset / size + 1,
                                                offset % size, show_byte(data[i]), show_byte(expect_[offset % size]));
                return -1;
            }
        }
        return static_cast<std::int64_t>((at.received + data.size()) / size - at.answered);
    }

    bool mid_reply(std::uint32_t, const ConnStream& at) const noexcept override {
        return at.received % expect_.size() != 0;
    }

private:
    const std::string request_, expect_;
};

}  // namespace

std::unique_ptr<Protocol> make_expect(const ProtocolSpec& spec) {
    if (spec.request.empty() || spec.expect.empty()) throw std::invalid_argument("--request and --expect must not be empty");
    return std::make_unique<Expect>(spec);
}

}  // namespace stress
