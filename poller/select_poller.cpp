// select(2) with fd sets sized to the highest registered fd, not glibc's fixed 1024 bits.
// Linux's select accepts any nfds below the fd-table size and reads ceil(nfds/64) words
// from each set, so bitmaps we allocate ourselves work past FD_SETSIZE. We never use
// FD_SET / FD_ISSET: under _FORTIFY_SOURCE they abort for fd >= 1024 whatever the buffer.
// The cost is the point of this backend: every wait copies and scans O(highest fd) bits
// in user space and in the kernel, however few fds are ready.
#include <fcntl.h>
#include <sys/select.h>

#include <bit>
#include <cerrno>
#include <climits>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include "poller/backends.hpp"

namespace iomux {
namespace {

using Word = unsigned long;  // the kernel's fd_set word (__fd_mask)
constexpr int kBits = sizeof(Word) * CHAR_BIT;

class FdBits {
public:
    bool test(int fd) const noexcept {
        const auto w = static_cast<std::size_t>(fd / kBits);
        return w < words_.size() && (words_[w] >> (fd % kBits) & 1u);
    }
    void set(int fd, bool on) {
        const auto w = static_cast<std::size_t>(fd / kBits);
        if (w >= words_.size()) words_.resize(w + 1, 0);
        const Word bit = Word{1} << (fd % kBits);
        words_[w] = on ? words_[w] | bit : words_[w] & ~bit;
    }
    void resize(std::size_t words) { words_.resize(words, 0); }
    Word* data() noexcept { return words_.data(); }
    Word word(std::size_t w) const noexcept { return w < words_.size() ? words_[w] : 0; }
    std::vector<Word>& words() noexcept { return words_; }

private:
    std::vector<Word> words_;
};

class SelectPoller final : public Poller {
public:
    std::string_view name() const noexcept override { return "select"; }

    void remove(int fd) noexcept override {
        if (fd < 0 || !registered(fd)) return;
        read_in_.set(fd, false);
        write_in_.set(fd, false);
        while (max_fd_ >= 0 && !registered(max_fd_)) --max_fd_;
    }

protected:
    void do_add(int fd, std::uint32_t events) override {
        if (registered(fd)) throw std::system_error(EEXIST, std::generic_category(), fmt::format("select add fd {}", fd));
        set_interest(fd, events);
        max_fd_ = std::max(max_fd_, fd);
    }

    void do_modify(int fd, std::uint32_t events) override {
        if (!registered(fd)) throw std::system_error(ENOENT, std::generic_category(), fmt::format("select modify fd {}", fd));
        set_interest(fd, events);
    }

    int wait_once(std::span<PollEvent> out, Timeout timeout) override {
        const std::size_t words = static_cast<std::size_t>(max_fd_ + kBits) / kBits;  // 0 when empty
        read_out_.words().assign(read_in_.words().begin(), read_in_.words().begin() + static_cast<long>(words));
        write_out_.words().assign(write_in_.words().begin(), write_in_.words().begin() + static_cast<long>(words));
        timeval tv{};
        timeval* tvp = nullptr;
        if (timeout >= Timeout::zero()) {
            const auto us = (timeout.count() + 999) / 1000;  // round up to select's 1 us
            tv = {static_cast<time_t>(us / 1'000'000), static_cast<suseconds_t>(us % 1'000'000)};
            tvp = &tv;
        }
        const int n = ::select(max_fd_ + 1, reinterpret_cast<fd_set*>(read_out_.data()),
                               reinterpret_cast<fd_set*>(write_out_.data()), nullptr, tvp);
        if (n < 0 && errno == EBADF) return report_closed(out);
        if (n <= 0) return n;
        return collect(out, words);
    }

private:
    bool registered(int fd) const noexcept { return read_in_.test(fd) || write_in_.test(fd); }

    void set_interest(int fd, std::uint32_t events) {
        read_in_.set(fd, events & EVENT_READ);
        write_in_.set(fd, events & EVENT_WRITE);
        // Keep both sets the same length so wait() can copy them word for word.
        const std::size_t words = std::max(read_in_.words().size(), write_in_.words().size());
        read_in_.resize(words);
        write_in_.resize(words);
    }

    // Scans the result words, starting just after the last fd reported when the previous
    // buffer filled up, so that fds past it are not starved when more fds are ready than out
    // can hold. The start word is visited twice: its high bits first, its low bits last.
    int collect(std::span<PollEvent> out, std::size_t words) {
        const std::size_t w0 = start_fd_ / kBits < words ? start_fd_ / kBits : 0;
        const int b0 = start_fd_ / kBits < words ? static_cast<int>(start_fd_ % kBits) : 0;
        std::size_t count = 0;
        for (std::size_t k = 0; k <= words; ++k) {
            const std::size_t w = (w0 + k) % words;
            const Word keep = k == 0 ? ~Word{0} << b0 : k == words ? (Word{1} << b0) - 1 : ~Word{0};
            const Word r = read_out_.word(w) & keep, wr = write_out_.word(w) & keep;
            for (Word any = r | wr; any != 0; any &= any - 1) {
                const int bit = std::countr_zero(any);
                const Word mask = Word{1} << bit;
                const int fd = static_cast<int>(w) * kBits + bit;
                out[count++] = {fd, (r & mask ? EVENT_READ : 0u) | (wr & mask ? EVENT_WRITE : 0u)};
                if (count == out.size()) {
                    start_fd_ = static_cast<std::size_t>(fd) + 1;
                    return static_cast<int>(count);
                }
            }
        }
        return static_cast<int>(count);
    }

    // select fails as a whole with EBADF when any registered fd was closed. poll reports
    // such an fd as POLLNVAL; do the same, so the owner learns of it and removes it.
    int report_closed(std::span<PollEvent> out) {
        std::size_t count = 0;
        for (int fd = 0; fd <= max_fd_ && count < out.size(); ++fd) {
            if (!registered(fd) || ::fcntl(fd, F_GETFD) != -1) continue;
            out[count++] = {fd, (read_in_.test(fd) ? EVENT_READ : 0u) | (write_in_.test(fd) ? EVENT_WRITE : 0u)};
        }
        if (count == 0) errno = EBADF;
        return count ? static_cast<int>(count) : -1;
    }

    FdBits read_in_, write_in_;    // interest
    FdBits read_out_, write_out_;  // what select() reported; reused across waits
    int max_fd_ = -1;
    std::size_t start_fd_ = 0;  // where collect() starts scanning
};

}  // namespace

std::unique_ptr<Poller> make_select_poller() {
    return std::make_unique<SelectPoller>();
}

}  // namespace iomux
