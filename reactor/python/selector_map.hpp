// SelectorMapCore: what get_map() returns, a live read-only view of a selector's keys as
// selectors' _SelectorMapping: [fileobj] finds the key by fd (KeyError when not registered,
// ValueError when fileobj names no fd), iterating yields fds, and it is empty once the
// selector is closed. module.cpp makes it a real collections.abc.Mapping, which adds get,
// keys, values, items, __contains__ and __eq__; it has no __setitem__ or __delitem__.
#pragma once

#include <cstddef>
#include <utility>

#include <pybind11/pybind11.h>

namespace iomux::python {

class SelectorMapCore {
public:
    // selector: an instance of a class over SelectorCore, kept alive by the view.
    explicit SelectorMapCore(pybind11::object selector) : selector_(std::move(selector)) {}

    std::size_t size() const;
    pybind11::object getitem(pybind11::handle fileobj) const;
    pybind11::object iter() const;

    // The cycle collector's view (gc_support.hpp).
    int traverse(visitproc visit, void* arg) const {
        Py_VISIT(selector_.ptr());
        return 0;
    }
    void clear() { selector_ = pybind11::none(); }

private:
    pybind11::object selector_;
};

}  // namespace iomux::python
