// Echo: every reply byte equals the request byte at the same stream offset, and a reply is
// complete when the stream has come back up to the end of its message.
#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "protocol.hpp"

namespace stress {
namespace {

class Echo final : public Protocol {
public:
    explicit Echo(std::unique_ptr<StreamContent> content) : content_(std::move(content)) {}

    std::string_view name() const noexcept override { return "echo"; }
    std::span<const char> request(std::uint32_t conn, std::uint64_t offset) const noexcept override {
        return content_->at(conn, offset);
    }
    std::uint64_t requests_end(std::uint64_t n) const noexcept override { return content_->messages_end(n); }

    std::int64_t check(std::uint32_t c, const ConnStream& at, std::span<const char> data, bool first,
                       ReplyError* error) override {
        const std::uint64_t end = at.received + data.size();
        for (std::size_t done = 0; done < data.size();) {
            const std::uint64_t offset = at.received + done;
            if (offset >= at.sent) {
                if (first)
                    error->detail = fmt::format("the server sent {} bytes more than it was sent ({} sent)", end - at.sent,
                                                at.sent);
                return -1;
            }
            const std::span<const char> expect = content_->at(c, offset);
            const std::size_t m = std::min<std::uint64_t>({data.size() - done, expect.size(), at.sent - offset});
            const char* mine = data.data() + done;
            if (std::memcmp(mine, expect.data(), m) != 0) {
                if (first) {
                    const auto i = static_cast<std::size_t>(std::mismatch(mine, mine + m, expect.data()).first - mine);
                    error->detail = fmt::format("reply byte {} of the stream is {}, but {} was sent", offset + i,
                                                show_byte(mine[i]), show_byte(expect[i]));
                }
                return -1;
            }
            done += m;
        }
        std::int64_t replies = 0;
        while (at.answered + replies < at.asked && content_->messages_end(at.answered + replies + 1) <= end) ++replies;
        return replies;
    }

    bool mid_reply(std::uint32_t, const ConnStream& at) const noexcept override {
        return at.received > content_->messages_end(at.answered);
    }

private:
    std::unique_ptr<StreamContent> content_;
};

}  // namespace

std::unique_ptr<Protocol> make_echo(std::unique_ptr<StreamContent> content) { return std::make_unique<Echo>(std::move(content)); }

}  // namespace stress
