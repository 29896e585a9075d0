#include "reactor/python/selector_map.hpp"

#include <string>

#include "reactor/python/selector_core.hpp"

namespace py = pybind11;

namespace iomux::python {
namespace {

// The selector's core, or nullptr once the collector has cleared the view.
const SelectorCore* core_of(const py::object& selector) {
    return selector.is_none() ? nullptr : &selector.cast<const SelectorCore&>();
}

}  // namespace

std::size_t SelectorMapCore::size() const {
    const SelectorCore* core = core_of(selector_);
    return core ? core->size() : 0;
}

py::object SelectorMapCore::getitem(py::handle fileobj) const {
    const SelectorCore* core = core_of(selector_);
    if (core == nullptr) throw py::key_error(std::string(py::repr(fileobj)) + " is not registered");
    return core->key_of(fileobj);
}

// A snapshot of the fds: iterating while the selector changes is then well defined.
py::object SelectorMapCore::iter() const {
    const SelectorCore* core = core_of(selector_);
    return py::iter(core ? core->fds() : py::list());
}

}  // namespace iomux::python
