// Lets Python's cycle collector see the Python objects a pybind11 class holds from C++.
// A selector's keys hold their data, and asyncio's data (handles, transports) hold the loop
// that holds the selector: without this, such a cycle is never freed, and an event loop that
// was dropped without close() would keep its fds forever.
#pragma once

#include <pybind11/pybind11.h>

namespace iomux::python {

// The C++ object of a pybind11 instance, or nullptr while its __init__ has not run.
template <class T>
T* initialised(PyObject* self) {
    auto* inst = reinterpret_cast<pybind11::detail::instance*>(self);
    const auto v_h = inst->get_value_and_holder(pybind11::detail::get_type_info(typeid(T)), false);
    return v_h && v_h.holder_constructed() ? v_h.template value_ptr<T>() : nullptr;
}

// For py::class_<T>(..., gc_support<T>()): T::traverse(visit, arg) visits what T holds,
// T::clear() drops it.
template <class T>
pybind11::custom_type_setup gc_support() {
    return pybind11::custom_type_setup([](PyHeapTypeObject* heap_type) {
        PyTypeObject* type = &heap_type->ht_type;
        type->tp_flags |= Py_TPFLAGS_HAVE_GC;
        type->tp_traverse = [](PyObject* self, visitproc visit, void* arg) -> int {
            Py_VISIT(Py_TYPE(self));  // instances of heap types own a reference to their type
            const T* t = initialised<T>(self);
            return t != nullptr ? t->traverse(visit, arg) : 0;
        };
        type->tp_clear = [](PyObject* self) -> int {
            if (T* t = initialised<T>(self)) t->clear();
            return 0;
        };
        // CPython's rule for collected types: leave the collector's lists before destroying,
        // or a collection started by a finaliser that the destructor runs could traverse a
        // half-destroyed object. pybind11's own dealloc does not, as its types are not collected.
        type->tp_dealloc = [](PyObject* self) {
            PyObject_GC_UnTrack(self);
            pybind11::detail::pybind11_object_dealloc(self);
        };
    });
}

}  // namespace iomux::python
