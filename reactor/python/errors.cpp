#include "reactor/python/errors.hpp"

#include <system_error>

#include <pybind11/pybind11.h>

#include "reactor/selector.hpp"  // what the Selector throws: KeyError, ValueError, SelectorClosed

namespace py = pybind11;

namespace iomux::python {
namespace {

// OSError(errno, text) picks the subclass Python code catches (PermissionError for EPERM,
// FileNotFoundError for ENOENT, ...), as the stdlib's own select module raises them.
void set_os_error(const std::system_error& e) {
    const int code = e.code().category() == std::generic_category() || e.code().category() == std::system_category()
                         ? e.code().value()
                         : 0;
    PyObject* exc = PyObject_CallFunction(PyExc_OSError, "is", code, e.what());
    if (exc == nullptr) return;  // the call's own error (MemoryError) stands
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc)), exc);
    Py_DECREF(exc);
}

}  // namespace

void register_error_translation() {
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const iomux::KeyError& e) {
            PyErr_SetString(PyExc_KeyError, e.what());
        } catch (const iomux::ValueError& e) {
            PyErr_SetString(PyExc_ValueError, e.what());
        } catch (const iomux::SelectorClosed& e) {
            PyErr_SetString(PyExc_RuntimeError, e.what());
        } catch (const std::system_error& e) {
            set_os_error(e);
        }
    });
}

}  // namespace iomux::python
