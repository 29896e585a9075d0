// poll(2) over a dense array of pollfd. index_[fd] finds an fd's slot, so add and remove are
// O(1) (remove moves the last slot into the hole); each wait is O(registered fds).
#include <poll.h>

#include <cerrno>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include "poller/backends.hpp"

namespace iomux {
namespace {

constexpr short to_poll(std::uint32_t events) {
    return static_cast<short>((events & EVENT_READ ? POLLIN : 0) | (events & EVENT_WRITE ? POLLOUT : 0));
}

class PollPoller final : public Poller {
public:
    std::string_view name() const noexcept override { return "poll"; }

    void remove(int fd) noexcept override {
        const int i = slot_of(fd);
        if (i < 0) return;
        fds_[i] = fds_.back();
        index_[fds_[i].fd] = i;
        fds_.pop_back();
        index_[fd] = -1;
    }

protected:
    void do_add(int fd, std::uint32_t events) override {
        if (slot_of(fd) >= 0) throw std::system_error(EEXIST, std::generic_category(), fmt::format("poll add fd {}", fd));
        if (static_cast<std::size_t>(fd) >= index_.size()) index_.resize(static_cast<std::size_t>(fd) + 1, -1);
        index_[fd] = static_cast<int>(fds_.size());
        fds_.push_back({fd, to_poll(events), 0});
    }

    void do_modify(int fd, std::uint32_t events) override {
        const int i = slot_of(fd);
        if (i < 0) throw std::system_error(ENOENT, std::generic_category(), fmt::format("poll modify fd {}", fd));
        fds_[i].events = to_poll(events);
    }

    int wait_once(std::span<PollEvent> out, Timeout timeout) override {
        int ready = ::poll(fds_.data(), fds_.size(), timeout_ms(timeout));
        if (ready <= 0) return ready;
        // Start the scan where the last full buffer stopped, so fds late in the array are
        // not starved when more are ready than out can hold.
        const std::size_t n = fds_.size();
        std::size_t count = 0;
        for (std::size_t k = 0; k < n && ready > 0 && count < out.size(); ++k) {
            const pollfd& p = fds_[(start_ + k) % n];
            if (p.revents == 0) continue;
            --ready;
            const std::uint32_t interest = (p.events & POLLIN ? EVENT_READ : 0u) | (p.events & POLLOUT ? EVENT_WRITE : 0u);
            out[count++] = {p.fd, ready_events(p.revents & POLLIN, p.revents & POLLOUT,
                                               p.revents & ~(POLLIN | POLLOUT), interest)};
            if (count == out.size()) start_ = (start_ + k + 1) % n;
        }
        return static_cast<int>(count);
    }

private:
    int slot_of(int fd) const noexcept {
        return fd >= 0 && static_cast<std::size_t>(fd) < index_.size() ? index_[fd] : -1;
    }

    std::vector<pollfd> fds_;
    std::vector<int> index_;  // fd -> position in fds_, or -1
    std::size_t start_ = 0;
};

}  // namespace

std::unique_ptr<Poller> make_poll_poller() {
    return std::make_unique<PollPoller>();
}

}  // namespace iomux
