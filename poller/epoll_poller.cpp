// epoll(7), level- or edge-triggered. The kernel keeps the interest set, so this backend
// is a thin translation: O(1) per change, O(ready) per wait.
#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include "poller/backends.hpp"
#include "poller/unique_fd.hpp"

namespace iomux {
namespace {

class EpollPoller final : public Poller {
public:
    explicit EpollPoller(bool edge_triggered)
        : epfd_(::epoll_create1(EPOLL_CLOEXEC)), edge_(edge_triggered) {
        if (!epfd_) throw std::system_error(errno, std::generic_category(), "epoll_create1");
    }

    std::string_view name() const noexcept override { return edge_ ? "epoll-et" : "epoll"; }
    bool edge_triggered() const noexcept override { return edge_; }
    int fileno() const noexcept override { return epfd_.get(); }

    void remove(int fd) noexcept override {
        // ENOENT, EBADF: the fd was closed (the kernel dropped it) or never added. Either
        // way there is nothing left to remove, and a reused fd number is not touched.
        ::epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, fd, nullptr);
        if (!exclusive_.empty()) std::erase(exclusive_, fd);
    }

protected:
    void do_add(int fd, std::uint32_t events) override {
        control(EPOLL_CTL_ADD, fd, events);
        // The number named an exclusive registration that was closed without remove().
        if (!exclusive_.empty()) std::erase(exclusive_, fd);
    }
    void do_add_exclusive(int fd, std::uint32_t events) override {
        control(EPOLL_CTL_ADD, fd, events, EPOLLEXCLUSIVE);
        exclusive_.push_back(fd);
    }
    void do_modify(int fd, std::uint32_t events) override {
        if (exclusive(fd)) return add_again(fd, events);
        control(EPOLL_CTL_MOD, fd, events);
    }
    void do_rearm(int fd, std::uint32_t events) override {
        if (exclusive(fd)) return add_again(fd, events);
        // MOD finds the registration only if the number still means the file that was
        // added; ENOENT means it was closed (the kernel dropped it) and reused: add the new file.
        try {
            control(EPOLL_CTL_MOD, fd, events);
        } catch (const std::system_error& e) {
            if (e.code().value() != ENOENT) throw;
            control(EPOLL_CTL_ADD, fd, events);
        }
    }

    int wait_once(std::span<PollEvent> out, Timeout timeout) override {
        if (buffer_.size() < out.size()) buffer_.resize(out.size());
        const int n = ::epoll_wait(epfd_.get(), buffer_.data(), static_cast<int>(out.size()), timeout_ms(timeout));
        for (int i = 0; i < n; ++i) {
            const epoll_event& ev = buffer_[i];
            const auto interest = static_cast<std::uint32_t>(ev.data.u64 >> 32);
            out[i] = {static_cast<int>(static_cast<std::uint32_t>(ev.data.u64)),
                      ready_events(ev.events & EPOLLIN, ev.events & EPOLLOUT,
                                   ev.events & ~(EPOLLIN | EPOLLOUT), interest)};
        }
        return n;
    }

private:
    void control(int op, int fd, std::uint32_t events, std::uint32_t flags = 0) {
        epoll_event ev{};
        ev.events = (events & EVENT_READ ? EPOLLIN : 0u) | (events & EVENT_WRITE ? EPOLLOUT : 0u) |
                    (edge_ ? EPOLLET : 0u) | flags;
        // The interest rides along with the fd so wait() can mask ERR/HUP without a lookup.
        ev.data.u64 = static_cast<std::uint32_t>(fd) | (std::uint64_t{events} << 32);
        if (::epoll_ctl(epfd_.get(), op, fd, &ev) != 0)
            throw std::system_error(errno, std::generic_category(),
                                    fmt::format("epoll_ctl({}, fd {})", op == EPOLL_CTL_ADD ? "ADD" : "MOD", fd));
    }

    bool exclusive(int fd) const { return std::find(exclusive_.begin(), exclusive_.end(), fd) != exclusive_.end(); }
    // EPOLL_CTL_MOD of an EPOLLEXCLUSIVE registration fails with EINVAL: replace it. DEL
    // fails harmlessly when the number was closed and reused (see rearm).
    void add_again(int fd, std::uint32_t events) {
        ::epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, fd, nullptr);
        control(EPOLL_CTL_ADD, fd, events, EPOLLEXCLUSIVE);
    }

    UniqueFd epfd_;
    bool edge_;
    std::vector<int> exclusive_;  // fds added with Wakeup::exclusive: a listener or two
    std::vector<epoll_event> buffer_;
};

}  // namespace

std::unique_ptr<Poller> make_epoll_poller(bool edge_triggered) {
    return std::make_unique<EpollPoller>(edge_triggered);
}

}  // namespace iomux
