// Selector: Python's selectors.BaseSelector in C++, over any Poller backend.
//
//   iomux::Selector<std::string> sel;                 // default backend (see default_backend)
//   sel.register_fd(sock, iomux::EVENT_READ, "listener");
//   for (auto [key, events] : sel.select(1.0)) ...    // key.fd, key.events, key.data
//   (clang 14 cannot capture structured bindings in a lambda: use `for (auto r : ...)`,
//   r.key and r.events there.)
//
// Differences from Python, all forced by C++:
//  - `register` is a C++ keyword, so the method is register_fd().
//  - Keys are looked up by fd only (there is no file object).
//  - Keys are returned by reference into the selector. A reference stays valid while its
//    fd stays registered; modify() updates the key in place.
//  - select() returns a view over a buffer the selector reuses: valid until the next
//    select(). Iterating it skips an fd that was unregistered (or unregistered and
//    registered again) after select() returned, and masks each entry with the key's
//    current events: a callback that removes another fd never sees a stale event for it.
//
// Errors (the table in README.md):
//   register_fd  events 0 or unknown bits -> ValueError (checked first); fd < 0 ->
//                ValueError; fd already registered -> KeyError; kernel refuses the fd
//                (epoll: EBADF for a closed fd, EPERM for a regular file) ->
//                std::system_error, and the fd is not registered.
//   unregister   unknown fd -> KeyError. An fd closed since it was registered is
//                unregistered without error and without touching a reused fd number.
//   modify       unknown fd -> KeyError; bad events -> ValueError, and the fd stays
//                registered unchanged; kernel refusal -> std::system_error, and the fd is
//                unregistered (Python's bpo-30014 behaviour).
//   get_key      unknown fd -> KeyError.
//   register_fd, modify, rearm, select, get_key after close() -> SelectorClosed
//                (get_map() stays usable: an empty view; unregister -> KeyError).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <any>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "poller/errors.hpp"
#include "poller/poller.hpp"
#include "reactor/errors.hpp"
#include "reactor/fd_table.hpp"

namespace iomux {

template <class Data>
struct SelectorKey {
    int fd;
    std::uint32_t events;
    Data data;
    bool operator==(const SelectorKey&) const = default;
};

template <class Data = std::any>
class Selector {
public:
    using Key = SelectorKey<Data>;

private:
    // One per fd number ever registered.
    struct Slot {
        std::optional<Key> key;
        std::uint32_t generation = 0;  // bumped by each register: detects reuse of the fd
    };
    // A ready fd, noted with its registration so that a later unregister is seen. Slots
    // stay in place until close(), which also empties the list.
    struct Pending {
        Slot* slot;
        std::uint32_t generation;
        std::uint32_t events;
    };

public:
    // One result of select(): the key and the events it is ready for (never 0).
    struct Ready {
        const Key& key;
        std::uint32_t events;
    };

    explicit Selector(std::string_view backend = default_backend())
        : Selector(make_poller(backend)) {}
    explicit Selector(std::unique_ptr<Poller> poller) : poller_(std::move(poller)) {}

    // wakeup (not in Python): see iomux::Wakeup, for an fd that other loops watch too.
    const Key& register_fd(int fd, std::uint32_t events, Data data = Data{}, Wakeup wakeup = Wakeup::all) {
        check_events(events);
        check_fd(fd);
        if (closed()) throw SelectorClosed();
        if (find(fd)) throw KeyError(fmt::format("fd {} is already registered", fd));
        Slot& slot = slot_for(fd);  // may throw bad_alloc: before the backend knows the fd
        poller_->add(fd, events, wakeup);
        ++slot.generation;
        ++size_;
        return slot.key.emplace(Key{fd, events, std::move(data)});
    }

    Key unregister(int fd) {
        Slot* slot = find(fd);
        if (!slot) throw KeyError(fmt::format("fd {} is not registered", fd));
        poller_->remove(fd);
        Key old = std::move(*slot->key);
        slot->key.reset();
        --size_;
        return old;
    }

    // Changes the events (one backend call, none when they are unchanged).
    const Key& modify(int fd, std::uint32_t events) {
        Key& key = existing(fd);
        check_events(events);
        if (events != key.events) {
            try {
                poller_->modify(fd, events);
            } catch (...) {
                unregister(fd);
                throw;
            }
            key.events = events;
        }
        return key;
    }
    // Re-registers fd with events, for an fd whose number may have been closed and reused
    // since it was registered (see Poller::rearm): one backend call even when the events
    // are unchanged. Errors as modify.
    const Key& rearm(int fd, std::uint32_t events) {
        Key& key = existing(fd);
        check_events(events);
        try {
            poller_->rearm(fd, events);
        } catch (...) {
            unregister(fd);
            throw;
        }
        key.events = events;
        return key;
    }
    // Changes the events and replaces the data.
    const Key& modify(int fd, std::uint32_t events, Data data) {
        modify(fd, events);
        Key& key = existing(fd);
        key.data = std::move(data);
        return key;
    }

    // Waits for readiness. nullopt blocks; <= 0 polls; > 0 waits at most that many seconds
    // (rounded up to the backend's resolution). A signal does not end the wait early.
    class Result;
    Result select(std::optional<double> timeout_seconds = std::nullopt) {
        static const OnInterrupt none;
        return select(timeout_seconds, none);
    }
    // The same, calling on_interrupt at each interruption (see OnInterrupt in poller.hpp);
    // what it throws ends the wait.
    Result select(std::optional<double> timeout_seconds, const OnInterrupt& on_interrupt) {
        if (closed()) throw SelectorClosed();
        Timeout timeout = kBlock;
        if (timeout_seconds) {
            // Rounded up, so a tiny positive timeout still waits rather than polls.
            const double ns = std::ceil(std::clamp(*timeout_seconds, 0.0, 9e9) * 1e9);
            timeout = Timeout(static_cast<std::int64_t>(ns));
        }
        // One slot per registered fd always drains everything ready in one call.
        if (events_.size() < size_ || events_.empty()) events_.resize(std::max<std::size_t>(size_, 64));
        const std::size_t n = poller_->wait(events_, timeout, on_interrupt);
        ready_.clear();
        for (std::size_t i = 0; i < n; ++i) {
            if (Slot* slot = find(events_[i].fd)) ready_.push_back({slot, slot->generation, events_[i].events});
        }
        return Result(*this);
    }

    const Key& get_key(int fd) const {
        if (closed()) throw SelectorClosed();
        const Slot* slot = const_cast<Selector*>(this)->find(fd);
        if (!slot) throw KeyError(fmt::format("fd {} is not registered", fd));
        return *slot->key;
    }

    // A read-only live view of the registered keys, in fd order.
    class Map;
    Map get_map() const { return Map(*this); }

    // Releases the backend; idempotent. Registered fds are not closed (they are not ours).
    void close() noexcept {
        poller_.reset();
        ready_.clear();
        slots_.clear();
        size_ = 0;
    }
    bool closed() const noexcept { return poller_ == nullptr; }

    // The backend's kernel fd (epoll), or -1.
    int fileno() const noexcept { return poller_ ? poller_->fileno() : -1; }
    std::string_view backend() const noexcept { return poller_ ? poller_->name() : std::string_view{}; }
    bool edge_triggered() const noexcept { return poller_ && poller_->edge_triggered(); }
    std::size_t size() const noexcept { return size_; }

    class Result {
    public:
        class iterator {
        public:
            Ready operator*() const {
                const Pending& p = sel_->ready_[i_];
                const Key& key = *p.slot->key;
                return {key, p.events & key.events};
            }
            iterator& operator++() {
                ++i_;
                skip_stale();
                return *this;
            }
            // A close() during the iteration empties the list: every iterator is then at the end.
            bool operator==(const iterator& other) const { return done() ? other.done() : i_ == other.i_; }

        private:
            friend class Result;
            iterator(const Selector* sel, std::size_t i) : sel_(sel), i_(i) { skip_stale(); }
            bool done() const { return i_ >= sel_->ready_.size(); }
            void skip_stale() {
                while (!done() && !live(sel_->ready_[i_])) ++i_;
            }
            static bool live(const Pending& p) {
                const Slot& slot = *p.slot;
                return slot.key && slot.generation == p.generation && (p.events & slot.key->events);
            }
            const Selector* sel_;
            std::size_t i_;
        };
        iterator begin() const { return iterator(sel_, 0); }
        iterator end() const { return iterator(sel_, sel_->ready_.size()); }
        // Counts the entries still live (O(n)).
        std::size_t size() const {
            std::size_t n = 0;
            for (auto it = begin(); it != end(); ++it) ++n;
            return n;
        }
        bool empty() const { return begin() == end(); }

    private:
        friend class Selector;
        explicit Result(const Selector& sel) : sel_(&sel) {}
        const Selector* sel_;
    };

    class Map {
    public:
        std::size_t size() const noexcept { return sel_->size_; }
        bool empty() const noexcept { return size() == 0; }
        bool contains(int fd) const { return const_cast<Selector*>(sel_)->find(fd) != nullptr; }
        // KeyError when fd is not registered (also after close).
        const Key& at(int fd) const {
            const Slot* slot = const_cast<Selector*>(sel_)->find(fd);
            if (!slot) throw KeyError(fmt::format("fd {} is not registered", fd));
            return *slot->key;
        }
        const Key& operator[](int fd) const { return at(fd); }
        // Python's Mapping.get: the key, or nullptr when fd is not registered.
        const Key* get(int fd) const {
            const Slot* slot = const_cast<Selector*>(sel_)->find(fd);
            return slot ? &*slot->key : nullptr;
        }

        class iterator {
        public:
            const Key& operator*() const { return *(*slots_)[i_].key; }
            const Key* operator->() const { return &**this; }
            iterator& operator++() {
                ++i_;
                skip_empty();
                return *this;
            }
            bool operator==(const iterator& other) const { return i_ == other.i_; }

        private:
            friend class Map;
            iterator(const FdTable<Slot>* slots, std::size_t i) : slots_(slots), i_(i) { skip_empty(); }
            void skip_empty() {
                while (i_ < slots_->size() && !(*slots_)[i_].key) ++i_;
            }
            const FdTable<Slot>* slots_;
            std::size_t i_;
        };
        iterator begin() const { return iterator(&sel_->slots_, 0); }
        iterator end() const { return iterator(&sel_->slots_, sel_->slots_.size()); }

    private:
        friend class Selector;
        explicit Map(const Selector& sel) : sel_(&sel) {}
        const Selector* sel_;
    };

private:

    static void check_events(std::uint32_t events) {
        if (events == 0 || (events & ~(EVENT_READ | EVENT_WRITE)))
            throw ValueError(fmt::format("Invalid events: {}", events));
    }
    static void check_fd(int fd) {
        if (fd < 0) throw ValueError(fmt::format("Invalid file descriptor: {}", fd));
    }
    Slot* find(int fd) {
        if (fd < 0 || static_cast<std::size_t>(fd) >= slots_.size()) return nullptr;
        Slot& slot = slots_[fd];
        return slot.key ? &slot : nullptr;
    }
    Key& existing(int fd) {
        if (closed()) throw SelectorClosed();
        Slot* slot = find(fd);
        if (!slot) throw KeyError(fmt::format("fd {} is not registered", fd));
        return *slot->key;
    }
    Slot& slot_for(int fd) {
        slots_.grow_to(static_cast<std::size_t>(fd) + 1);
        return slots_[fd];
    }

    std::unique_ptr<Poller> poller_;
    FdTable<Slot> slots_;
    std::size_t size_ = 0;
    std::vector<PollEvent> events_;
    std::vector<Pending> ready_;
};

}  // namespace iomux
