#include "reactor/python/selector_core.hpp"

#include <climits>
#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "reactor/python/fileobj.hpp"

namespace py = pybind11;

namespace iomux::python {
namespace {

std::string repr_of(py::handle obj) { return std::string(py::repr(obj)); }

// selectors.SelectorKey, looked up once. Never freed: it may outlive the interpreter's
// teardown of this module.
const py::object& selector_key_type() {
    static const py::object* type = new py::object(py::module_::import("selectors").attr("SelectorKey"));
    return *type;
}

py::handle fileobj_of(const py::object& key) { return PyTuple_GET_ITEM(key.ptr(), 0); }

// The events as a mask: ValueError for 0 or unknown bits, as Python's `(not events) or
// (events & ~(EVENT_READ | EVENT_WRITE))`, TypeError for what is not an int.
std::uint32_t events_mask(py::handle events) {
    if (!PyLong_Check(events.ptr())) throw py::type_error("events must be an int, not " + repr_of(py::type::of(events)));
    int overflow = 0;
    const long long value = PyLong_AsLongLongAndOverflow(events.ptr(), &overflow);
    if (overflow != 0 || value <= 0 || (value & ~static_cast<long long>(EVENT_READ | EVENT_WRITE)) != 0)
        throw py::value_error("Invalid events: " + repr_of(events));
    return static_cast<std::uint32_t>(value);
}

// Python's `a != b`, which unlike PyObject_RichCompareBool takes no shortcut for identity.
bool not_equal(py::handle a, py::handle b) {
    const auto result = py::reinterpret_steal<py::object>(PyObject_RichCompare(a.ptr(), b.ptr(), Py_NE));
    if (!result) throw py::error_already_set();
    const int truth = PyObject_IsTrue(result.ptr());
    if (truth < 0) throw py::error_already_set();
    return truth != 0;
}

// At each interruption of a wait, on the waiting thread, which does not hold the GIL.
const OnInterrupt& run_signal_handlers() {
    static const OnInterrupt hook = [] {
        py::gil_scoped_acquire gil;
        if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    };
    return hook;
}

}  // namespace

SelectorCore::SelectorCore(std::string_view backend) : sel_(backend), backend_(sel_.backend()), has_fileno_(sel_.fileno() >= 0) {
    if (sel_.edge_triggered())
        throw py::value_error(fmt::format("backend '{}' is edge-triggered; selectors and asyncio need a level-triggered one", backend_));
}

// selectors' _fileobj_lookup: the fd fileobj names, or when it names none (a closed
// socket's fileno() is -1) the fd of the key registered with that very object.
long long SelectorCore::lookup_fd(py::handle fileobj) const {
    try {
        return fileobj_to_fd(fileobj);
    } catch (py::value_error&) {
        for (const auto& key : sel_.get_map())
            if (fileobj_of(key.data).is(fileobj)) return key.fd;
        throw;
    }
}

const SelectorCore::Sel::Key* SelectorCore::registered(long long fd) const {
    return fd <= INT_MAX ? sel_.get_map().get(static_cast<int>(fd)) : nullptr;
}

void SelectorCore::check_not_waiting(const char* what) const {
    if (phase_ == Phase::waiting)
        throw std::runtime_error(fmt::format("{}() while select() waits on this selector in another thread", what));
}

py::object SelectorCore::key_of(py::handle fileobj) const {
    const Sel::Key* key = registered(lookup_fd(fileobj));
    if (key == nullptr) throw py::key_error(repr_of(fileobj) + " is not registered");
    return key->data;
}

py::object SelectorCore::get_key(py::handle fileobj) {
    if (sel_.closed()) throw SelectorClosed();
    return key_of(fileobj);
}

py::object SelectorCore::register_fileobj(py::handle fileobj, py::handle events, py::handle data) {
    const std::uint32_t mask = events_mask(events);
    const long long fd = lookup_fd(fileobj);
    check_not_waiting("register");
    if (sel_.closed()) throw SelectorClosed();
    if (registered(fd) != nullptr) throw py::key_error(fmt::format("{} (FD {}) is already registered", repr_of(fileobj), fd));
    if (fd > INT_MAX) throw py::value_error(fmt::format("Invalid file descriptor: {}", fd));
    py::object key = selector_key_type()(fileobj, fd, events, data);
    sel_.register_fd(static_cast<int>(fd), mask, key);
    return key;
}

py::object SelectorCore::unregister(py::handle fileobj) {
    const Sel::Key* key = registered(lookup_fd(fileobj));
    if (key == nullptr) throw py::key_error(repr_of(fileobj) + " is not registered");
    check_not_waiting("unregister");
    return sel_.unregister(key->fd).data;
}

py::object SelectorCore::modify(py::handle fileobj, py::handle events, py::handle data) {
    const long long fd = lookup_fd(fileobj);
    check_not_waiting("modify");
    if (sel_.closed()) throw SelectorClosed();
    const Sel::Key* key = registered(fd);
    if (key == nullptr) throw py::key_error(repr_of(fileobj) + " is not registered");
    const std::uint32_t mask = events_mask(events);
    // Held here, so that replacing it in the selector runs no finaliser in the middle.
    const py::object old = key->data;
    // Compared first (Python changes the events first): a raising __ne__ then leaves
    // everything as it was, and whatever else it runs cannot leave a stale key behind.
    const bool data_changed = not_equal(data, PyTuple_GET_ITEM(old.ptr(), 3));
    key = registered(fd);
    if (key == nullptr || key->data.ptr() != old.ptr()) throw py::key_error(repr_of(fileobj) + " is not registered");
    if (mask == key->events && !data_changed) return old;
    const int number = key->fd;  // `key` may dangle once Python code runs (the next line)
    py::object updated = selector_key_type()(fileobj_of(old), number, events, data);
    // One backend call when the events change; refused, the fd is unregistered and the error
    // goes on (bpo-30014).
    sel_.modify(number, mask, updated);
    return updated;
}

py::list SelectorCore::select(py::handle timeout) {
    std::optional<double> seconds;
    if (!timeout.is_none()) {
        const double value = PyFloat_AsDouble(timeout.ptr());
        if (value == -1.0 && PyErr_Occurred()) throw py::error_already_set();
        if (std::isnan(value)) throw py::value_error("Invalid value NaN (not a number)");
        seconds = value;
    }
    if (phase_ != Phase::idle) throw std::runtime_error("select() while select() runs on this selector in another thread");
    if (sel_.closed()) throw SelectorClosed();

    struct PhaseGuard {
        Phase& phase;
        ~PhaseGuard() { phase = Phase::idle; }
    } guard{phase_};
    phase_ = Phase::waiting;
    std::optional<Sel::Result> ready;
    {
        py::gil_scoped_release nogil;
        ready.emplace(sel_.select(seconds, run_signal_handlers()));
    }
    // From here the others may change the selector again (a finaliser run by an allocation
    // below may unregister an fd): the result skips what they unregister.
    phase_ = Phase::collecting;
    const std::size_t n = ready->size();
    py::list out(n);
    std::size_t i = 0;
    for (auto it = ready->begin(); it != ready->end() && i < n; ++it, ++i) {
        const auto [key, events] = *it;
        // Owned before the allocation, which may run a finaliser that unregisters it.
        auto owned = py::reinterpret_borrow<py::object>(key.data);
        PyObject* pair = PyTuple_New(2);
        if (pair == nullptr) throw py::error_already_set();
        PyTuple_SET_ITEM(pair, 0, owned.release().ptr());
        PyTuple_SET_ITEM(pair, 1, PyLong_FromUnsignedLong(events));  // 1..3: cached, cannot fail
        PyList_SET_ITEM(out.ptr(), static_cast<Py_ssize_t>(i), pair);
    }
    if (i < n && PyList_SetSlice(out.ptr(), static_cast<Py_ssize_t>(i), static_cast<Py_ssize_t>(n), nullptr) != 0)
        throw py::error_already_set();
    return out;
}

void SelectorCore::close() {
    check_not_waiting("close");
    close_keys();
}

// The keys are released after the selector is closed, so that what their release runs
// (finalisers) finds it in order.
void SelectorCore::close_keys() noexcept {
    std::vector<py::object> keys;
    try {
        keys.reserve(sel_.size());
        for (const auto& key : sel_.get_map()) keys.push_back(key.data);
    } catch (const std::bad_alloc&) {  // then they are released while it closes
    }
    sel_.close();
}

int SelectorCore::fileno() const {
    if (sel_.closed()) throw SelectorClosed();
    return sel_.fileno();
}

py::list SelectorCore::fds() const {
    py::list out;
    for (const auto& key : sel_.get_map()) out.append(key.fd);
    return out;
}

int SelectorCore::traverse(visitproc visit, void* arg) const {
    for (const auto& key : sel_.get_map()) Py_VISIT(key.data.ptr());
    return 0;
}

}  // namespace iomux::python
