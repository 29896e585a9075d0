#include "reactor/python/fileobj.hpp"

#include <climits>
#include <string>

namespace py = pybind11;

namespace iomux::python {

long long fileobj_to_fd(py::handle fileobj) {
    py::object number;
    if (PyLong_Check(fileobj.ptr())) {
        number = py::reinterpret_borrow<py::object>(fileobj);
    } else {
        try {
            number = py::int_(fileobj.attr("fileno")());
        } catch (py::error_already_set& e) {
            if (!e.matches(PyExc_AttributeError) && !e.matches(PyExc_TypeError) && !e.matches(PyExc_ValueError)) throw;
            throw py::value_error("Invalid file object: " + std::string(py::repr(fileobj)));
        }
    }
    int overflow = 0;
    const long long fd = PyLong_AsLongLongAndOverflow(number.ptr(), &overflow);
    if (overflow > 0) return LLONG_MAX;
    if (overflow < 0 || fd < 0) throw py::value_error("Invalid file descriptor: " + std::string(py::str(number)));
    return fd;
}

}  // namespace iomux::python
