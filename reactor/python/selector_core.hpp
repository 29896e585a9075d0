// SelectorCore: what every iomux selector class does in Python, over iomux::Selector.
//
// CPython's selectors semantics, EpollSelector's where the stdlib's classes differ:
// register checks the events first (ValueError), then the file object (ValueError), then
// duplicates (KeyError), then asks the kernel (OSError with its errno; nothing stays
// registered); unregister finds a closed file object by identity, and never fails for an fd
// closed since (KeyError only for one not registered); modify with new events makes one
// backend call and, when the kernel refuses, unregisters the fd (bpo-30014); new data alone
// makes none; keys are selectors.SelectorKey, a new one whenever events or data change.
// Where iomux is stricter: modify checks its events (ValueError, the fd stays registered),
// and register, modify, select and get_key raise RuntimeError after close().
//
// Waiting releases the GIL. A signal that interrupts it runs Python's handlers at once
// (PyErr_CheckSignals): what they raise ends the wait, else it goes on with the time left
// (PEP 475). While one thread waits, the others may read (get_key, the map) but not change
// the selector, nor wait on it: that is RuntimeError, not a data race on the backend's tables.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <pybind11/pybind11.h>

#include "reactor/selector.hpp"

namespace iomux::python {

class SelectorCore {
public:
    // ValueError for a backend this build lacks or an edge-triggered one (selectors are
    // level-triggered); OSError when the kernel refuses it.
    explicit SelectorCore(std::string_view backend);
    SelectorCore(const SelectorCore&) = delete;
    SelectorCore& operator=(const SelectorCore&) = delete;

    pybind11::object register_fileobj(pybind11::handle fileobj, pybind11::handle events, pybind11::handle data);
    pybind11::object unregister(pybind11::handle fileobj);
    pybind11::object modify(pybind11::handle fileobj, pybind11::handle events, pybind11::handle data);
    // A list of (key, events); None blocks, <= 0 polls, > 0 waits at most that many seconds.
    pybind11::list select(pybind11::handle timeout);
    pybind11::object get_key(pybind11::handle fileobj);
    void close();

    // For the map (selector_map.hpp): the key of fileobj, KeyError when it is not registered
    // (also after close), ValueError when it names no fd.
    pybind11::object key_of(pybind11::handle fileobj) const;
    std::size_t size() const noexcept { return sel_.size(); }
    pybind11::list fds() const;

    bool closed() const noexcept { return sel_.closed(); }
    const std::string& backend() const noexcept { return backend_; }
    // Whether the backend has an fd of its own (epoll: see Poller::fileno), and that fd
    // (RuntimeError after close).
    bool has_fileno() const noexcept { return has_fileno_; }
    int fileno() const;

    // The cycle collector's view (gc_support.hpp).
    int traverse(visitproc visit, void* arg) const;
    void clear() { close_keys(); }

private:
    using Sel = iomux::Selector<pybind11::object>;  // data: the selectors.SelectorKey

    long long lookup_fd(pybind11::handle fileobj) const;
    const Sel::Key* registered(long long fd) const;
    void check_not_waiting(const char* what) const;
    void close_keys() noexcept;

    enum class Phase : std::uint8_t { idle, waiting, collecting };

    Sel sel_;
    std::string backend_;
    bool has_fileno_;
    // Guarded by the GIL: waiting is set while the GIL is released.
    Phase phase_ = Phase::idle;
};

}  // namespace iomux::python
