// Differential test: the same random sequence of operations applied to every
// level-triggered backend at once (select, poll, epoll), which must agree on every ready set
// and every error. Deterministic: fixed seeds, so a failure names the seed and step that
// reproduce it. (epoll-et has another contract, tested in test_poller.cpp.)
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "poller/poller.hpp"
#include "poller/unique_fd.hpp"
#include "tests/support.hpp"

namespace {

using iomux::EVENT_READ;
using iomux::EVENT_WRITE;
using iomux::PollEvent;
using iomux::Poller;
using iomux::UniqueFd;

constexpr int kPairs = 6;
constexpr int kSteps = 200;
constexpr int kSeeds = 300;

struct Pair {
    UniqueFd end[2];
};

// What one backend said to one operation: the error number, or the ready set.
using Outcome = std::map<int, std::uint32_t>;

class Run {
public:
    explicit Run(std::uint32_t seed) : rng_(seed) {
        for (const char* name : {"select", "poll", "epoll"}) pollers_.push_back(iomux::make_poller(name));
        for (auto& p : pairs_) reopen(p);
    }

    // One random operation; returns a description for the failure message.
    std::string step() {
        const int kind = pick(8);
        Pair& pair = pairs_[pick(kPairs)];
        const int side = pick(2);
        const int fd = pair.end[side].get();
        const std::uint32_t mask = static_cast<std::uint32_t>(1 + pick(3));
        switch (kind) {
        case 0:
            return agree_on_errno(fmt::format("add fd {} mask {}", fd, mask), [&](Poller& p) { p.add(fd, mask); });
        case 1:
            return agree_on_errno(fmt::format("modify fd {} mask {}", fd, mask), [&](Poller& p) { p.modify(fd, mask); });
        case 2:
            for (auto& p : pollers_) p->remove(fd);
            return fmt::format("remove fd {}", fd);
        case 3: {
            const std::string bytes(static_cast<std::size_t>(1 + pick(3000)), 'x');
            const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            return fmt::format("write {} bytes to fd {} -> {}", bytes.size(), fd, n);
        }
        case 4: {
            char buf[4096];
            const ssize_t n = ::recv(fd, buf, static_cast<std::size_t>(1 + pick(sizeof buf - 1)), MSG_DONTWAIT);
            return fmt::format("read fd {} -> {}", fd, n);
        }
        case 5:
            ::shutdown(fd, pick(2) ? SHUT_WR : SHUT_RD);
            return fmt::format("shutdown fd {}", fd);
        case 6:
            // The contract: remove before close. The new pair may reuse both numbers.
            for (auto& p : pollers_) {
                p->remove(pair.end[0].get());
                p->remove(pair.end[1].get());
            }
            reopen(pair);
            return fmt::format("close and reopen pair of fd {}", fd);
        default:
            return compare_waits();
        }
    }

    std::string compare_waits() {
        std::vector<Outcome> seen;
        for (auto& p : pollers_) {
            std::array<PollEvent, 2 * kPairs + 1> out{};
            const std::size_t n = p->wait(out, iomux::Timeout::zero());
            Outcome o;
            for (std::size_t i = 0; i < n; ++i) o[out[i].fd] = out[i].events;
            seen.push_back(std::move(o));
        }
        for (std::size_t i = 1; i < seen.size(); ++i) {
            INFO(fmt::format("{}: {}  vs  {}: {}", pollers_[0]->name(), show(seen[0]), pollers_[i]->name(), show(seen[i])));
            CHECK(seen[i] == seen[0]);
        }
        return fmt::format("wait(0) -> {}", show(seen[0]));
    }

private:
    int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

    void reopen(Pair& p) {
        auto sp = iomux::test::socket_pair();
        p.end[0] = std::move(sp.a);
        p.end[1] = std::move(sp.b);
    }

    template <class Op>
    std::string agree_on_errno(const std::string& what, Op op) {
        std::vector<int> errors;
        for (auto& p : pollers_) {
            int err = 0;
            try {
                op(*p);
            } catch (const std::system_error& e) {
                err = e.code().value();
            }
            errors.push_back(err);
        }
        for (std::size_t i = 1; i < errors.size(); ++i) {
            INFO(fmt::format("{}: {} errno {} vs {} errno {}", what, pollers_[0]->name(), errors[0], pollers_[i]->name(), errors[i]));
            CHECK(errors[i] == errors[0]);
        }
        return fmt::format("{} -> errno {}", what, errors[0]);
    }

    static std::string show(const Outcome& o) {
        std::string s;
        for (const auto& [fd, ev] : o) s += fmt::format("{}:{} ", fd, ev);
        return s.empty() ? "(none)" : s;
    }

    std::mt19937 rng_;
    std::array<Pair, kPairs> pairs_;
    std::vector<std::unique_ptr<Poller>> pollers_;
};

}  // namespace

TEST_CASE("select, poll and epoll agree on every ready set and error, over random sequences") {
    for (std::uint32_t seed = 1; seed <= kSeeds; ++seed) {
        Run run(seed);
        std::string last;
        for (int step = 0; step < kSteps; ++step) {
            INFO(fmt::format("seed {} step {} after: {}", seed, step, last));
            last = run.step();
        }
        run.compare_waits();
    }
}
