#include "tests/differential/differential.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "poller/backends.hpp"
#include "tests/support.hpp"

namespace iomux::differential {
namespace {

constexpr std::size_t kHistory = 8;

// The events fd is ready for now, of those in mask: what epoll finds when add or modify
// polls the fd, and so what it queues at once.
std::uint32_t ready_now(int fd, std::uint32_t mask) {
    pollfd p{fd, static_cast<short>((mask & EVENT_READ ? POLLIN : 0) | (mask & EVENT_WRITE ? POLLOUT : 0)), 0};
    if (::poll(&p, 1, 0) != 1) return 0;
    return ready_events(p.revents & POLLIN, p.revents & POLLOUT, p.revents & ~(POLLIN | POLLOUT), mask);
}

// A known divergence, kept visible here rather than hidden: select(2) counts a hang-up
// (POLLHUP) as readable only, so where the others report a hung-up fd that is not
// writable (its peer shut both ways down without closing, its buffer full) for writing
// too, select does not. What the reference reports, as select sees it.
ReadySet as_select_sees(ReadySet ready) {
    for (auto it = ready.begin(); it != ready.end();) {
        pollfd p{it->first, POLLOUT, 0};
        if (::poll(&p, 1, 0) == 1 && (p.revents & POLLHUP) && !(p.revents & POLLOUT)) it->second &= ~EVENT_WRITE;
        it = it->second == 0 ? ready.erase(it) : std::next(it);
    }
    return ready;
}

}  // namespace

Differential::Differential() {
    for (const std::string& name : backend_names()) {
        try {
            backends_.push_back({make_poller(name), {}});
        } catch (const std::system_error&) {
            // The kernel refuses this backend here; the others are still compared.
        }
    }
    for (int p = 0; p < kPairs; ++p) close_pair(p);
}

std::vector<std::string> Differential::backends() const {
    std::vector<std::string> names;
    for (const Backend& b : backends_) names.emplace_back(b.poller->name());
    return names;
}

std::optional<std::string> Differential::run(std::span<const std::uint8_t> bytes) {
    OperationReader reader(bytes);
    while (const std::optional<Operation> op = reader.next())
        if (auto problem = apply(*op)) return problem;
    return apply(Operation{});  // a last wait: the final state must agree too
}

std::optional<std::string> Differential::apply(const Operation& op) {
    const std::string what = describe(op);
    note_.clear();
    std::optional<std::string> problem;
    if (pairs_[op.pair][op.side] || op.kind == Kind::wait || op.kind == Kind::close_pair) {
        ++stats_.operations;
        problem = dispatch(op);
    } else {
        note_ = " (skipped: that end is closed)";
    }
    ++step_;
    if (problem)
        return fmt::format("differential step {}: {}{}: {}\n  backends: {}; pairs: {}; registered: {}\n  before it: {}",
                           step_, what, note_, *problem, fmt::join(backends(), ", "), describe_pairs(),
                           to_string(interest_), fmt::join(history_, "; "));
    history_.push_back(what + note_);
    if (history_.size() > kHistory) history_.pop_front();
    return std::nullopt;
}

std::optional<std::string> Differential::dispatch(const Operation& op) {
    const int fd = pairs_[op.pair][op.side].get();
    const int peer = pairs_[op.pair][1 - op.side].get();
    switch (op.kind) {
    case Kind::add:
    case Kind::modify:
        return register_fd(op);
    case Kind::remove:
        remove_everywhere(fd);
        return std::nullopt;
    case Kind::write:
    case Kind::read:
        return transfer(op);
    case Kind::shutdown:
        note_ = ::shutdown(fd, op.how) == 0 ? "" : fmt::format(" -> errno {}", errno);
        // Both ends' state changes, and the kernel wakes both, whatever they wait for.
        edged(fd);
        edged(peer);
        return std::nullopt;
    case Kind::close_pair:
        close_pair(op.pair);
        return std::nullopt;
    case Kind::close_registered:
        return close_registered(op);
    case Kind::wait:
        return check_wait(std::nullopt);
    }
    return std::nullopt;
}

std::optional<std::string> Differential::register_fd(const Operation& op) {
    const int fd = pairs_[op.pair][op.side].get();
    std::vector<int> errors;
    for (Backend& b : backends_) {
        errors.push_back(0);
        try {
            if (op.kind == Kind::add)
                b.poller->add(fd, op.mask, op.exclusive ? Wakeup::exclusive : Wakeup::all);
            else
                b.poller->modify(fd, op.mask);
        } catch (const std::system_error& e) {
            errors.back() = e.code().value();
        }
    }
    if (errors.empty()) return std::nullopt;
    note_ = fmt::format(" -> errno {}", errors[0]);
    for (std::size_t i = 1; i < errors.size(); ++i) {
        if (errors[i] != errors[0]) {
            std::vector<std::string> all;
            for (std::size_t k = 0; k < errors.size(); ++k)
                all.push_back(fmt::format("{} errno {}", backends_[k].poller->name(), errors[k]));
            return fmt::format("backends disagree: {}", fmt::join(all, ", "));
        }
    }
    if (errors[0] != 0) {
        ++stats_.errors;
        return std::nullopt;
    }
    interest_[fd] = op.mask;
    if (ready_now(fd, op.mask) != 0)
        edged(fd);  // epoll polls the fd on ADD and MOD and queues it when ready
    else
        touched(fd);
    return std::nullopt;
}

std::optional<std::string> Differential::transfer(const Operation& op) {
    const int fd = pairs_[op.pair][op.side].get();
    const int peer = pairs_[op.pair][1 - op.side].get();
    const ssize_t n = op.kind == Kind::write
                          ? ::send(fd, scratch_.data(), op.size, MSG_NOSIGNAL | MSG_DONTWAIT)
                          : ::recv(fd, scratch_.data(), op.size, MSG_DONTWAIT);
    note_ = n >= 0 ? fmt::format(" -> {}", n) : fmt::format(" -> errno {}", errno);
    // A read frees buffer space of the peer, which wakes it for writing (or may: only once
    // a whole buffer is consumed); data arriving wakes the peer for reading, for sure.
    touched(fd);
    touched(peer);
    const auto it = interest_.find(peer);
    if (op.kind == Kind::write && n > 0 && it != interest_.end() && (it->second & EVENT_READ)) edged(peer);
    return std::nullopt;
}

std::optional<std::string> Differential::close_registered(const Operation& op) {
    UniqueFd& end = pairs_[op.pair][op.side];
    const int fd = end.get();
    const int peer = pairs_[op.pair][1 - op.side].get();
    const auto it = interest_.find(fd);
    const std::uint32_t interest = it == interest_.end() ? 0u : it->second;
    end.reset();
    for (Backend& b : backends_) b.contract.forget(fd);
    if (interest == 0) {
        // An fd that is not registered anywhere: its file goes at once, the peer hangs up.
        edged(peer);
        return std::nullopt;
    }
    // A backend may hold the file until the fd is removed, so the peer's hang-up may come
    // at the close or at the remove below: either way it may be woken, not for sure.
    touched(peer);
    ++stats_.closed_registered;
    std::optional<std::string> problem = check_wait(Closed{fd, interest, peer});
    remove_everywhere(fd);
    touched(peer);
    return problem;
}

void Differential::close_pair(int pair) {
    for (UniqueFd& end : pairs_[pair]) {
        if (end) remove_everywhere(end.get());  // the contract: remove, then close
        end.reset();
    }
    auto sp = test::socket_pair();
    pairs_[pair][0] = std::move(sp.a);
    pairs_[pair][1] = std::move(sp.b);
}

void Differential::remove_everywhere(int fd) {
    for (Backend& b : backends_) {
        b.poller->remove(fd);
        b.contract.forget(fd);
    }
    interest_.erase(fd);
}

std::vector<ReadySet> Differential::wait_all() {
    std::vector<ReadySet> seen;
    for (Backend& b : backends_) {
        // Room for one more than can be registered, so that a backend reporting too much shows.
        std::array<PollEvent, 2 * kPairs + 1> out{};
        const std::size_t n = b.poller->wait(out, Timeout::zero());
        ReadySet ready;
        for (std::size_t i = 0; i < n; ++i) ready[out[i].fd] |= out[i].events;
        seen.push_back(std::move(ready));
    }
    return seen;
}

std::optional<std::string> Differential::check_wait(std::optional<Closed> closed) {
    ++stats_.waits;
    std::vector<ReadySet> seen = wait_all();
    // select fails as a whole on a closed fd, and reports only the closed ones instead: it
    // cannot be compared with the others at that wait.
    const auto compared = [&](const Backend& b) { return !closed || b.poller->name() != "select"; };
    const bool file_kept_open = std::any_of(backends_.begin(), backends_.end(),
                                            [](const Backend& b) { return b.poller->name() == "io_uring"; });

    for (std::size_t i = 0; i < backends_.size(); ++i) {
        const std::string_view name = backends_[i].poller->name();
        ReadySet& ready = seen[i];
        if (closed) {
            const auto it = ready.find(closed->fd);
            const std::uint32_t got = it == ready.end() ? 0u : it->second;
            std::optional<std::uint32_t> expected;  // nullopt: not documented beyond the interest
            // epoll drops the fd when its file is closed; io_uring's poll request holds the
            // file open until remove(), and meanwhile epoll reports it as what it is.
            if ((name == "epoll" || name == "epoll-et") && !file_kept_open) expected = 0u;
            if (name == "poll" || name == "select") expected = closed->interest;
            if ((expected && got != *expected) || (got & ~closed->interest))
                return fmt::format("{} reported the closed fd {} with events {}, not the documented {}", name,
                                   closed->fd, got, expected.value_or(closed->interest));
            if (name == "select" && ready.size() != 1)
                return fmt::format("select reported {} with a closed fd registered: only the closed fd is documented",
                                   to_string(ready));
            ready.erase(closed->fd);
            if (file_kept_open) ready.erase(closed->peer);
        }
        for (const auto& [fd, events] : ready) {
            const auto it = interest_.find(fd);
            if (it == interest_.end())
                return fmt::format("{} reported fd {}, which is not registered: {}", name, fd, to_string(ready));
            if (events == 0 || (events & ~it->second))
                return fmt::format("{} reported events {} for fd {}, registered for {}", name, events, fd, it->second);
        }
    }

    std::optional<std::size_t> reference;  // the first level-triggered backend compared
    for (std::size_t i = 0; i < backends_.size(); ++i) {
        const Backend& b = backends_[i];
        if (b.poller->edge_triggered() || !compared(b)) continue;
        if (!reference) {
            reference = i;
        } else if (seen[i] != (b.poller->name() == "select" ? as_select_sees(seen[*reference]) : seen[*reference])) {
            return fmt::format("{}: {}  vs  {}: {}", backends_[*reference].poller->name(), to_string(seen[*reference]),
                               b.poller->name(), to_string(seen[i]));
        }
    }
    if (!reference) return std::nullopt;  // nothing level-triggered to hold the others to
    stats_.ready_reports += seen[*reference].size();
    for (std::size_t i = 0; i < backends_.size(); ++i) {
        Backend& b = backends_[i];
        if (!b.poller->edge_triggered()) continue;
        stats_.edge_reports += seen[i].size();
        if (auto broken = b.contract.check(seen[i], seen[*reference]))
            return fmt::format("{} against {}: {}", b.poller->name(), backends_[*reference].poller->name(), *broken);
    }
    return std::nullopt;
}

void Differential::touched(int fd) {
    if (fd < 0) return;
    for (Backend& b : backends_) b.contract.touched(fd);
}

void Differential::edged(int fd) {
    if (fd < 0) return;
    for (Backend& b : backends_) b.contract.edged(fd);
}

std::string Differential::describe_pairs() const {
    std::vector<std::string> all;
    for (const auto& pair : pairs_) all.push_back(fmt::format("{}-{}", pair[0].get(), pair[1].get()));
    return fmt::format("{}", fmt::join(all, " "));
}

std::string Differential::describe(const Operation& op) const {
    const int fd = pairs_[op.pair][op.side].get();
    const int peer = pairs_[op.pair][1 - op.side].get();
    switch (op.kind) {
    case Kind::add:
    case Kind::modify:
        return fmt::format("{} fd {} events {}{}", to_string(op.kind), fd, op.mask,
                           op.kind == Kind::add && op.exclusive ? " exclusive" : "");
    case Kind::write:
    case Kind::read:
        return fmt::format("{} {} bytes on fd {}", to_string(op.kind), op.size, fd);
    case Kind::shutdown:
        return fmt::format("shutdown fd {} {}", fd, op.how == SHUT_RD ? "SHUT_RD" : op.how == SHUT_WR ? "SHUT_WR" : "SHUT_RDWR");
    case Kind::close_pair:
        return fmt::format("close pair {} (fds {}, {}) and open a new one", op.pair, fd, peer);
    case Kind::remove:
    case Kind::close_registered:
        return fmt::format("{} fd {}", to_string(op.kind), fd);
    case Kind::wait:
        return "wait(0)";
    }
    return "?";
}

}  // namespace iomux::differential
