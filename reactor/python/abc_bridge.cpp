#include "reactor/python/abc_bridge.hpp"

#include <string>

namespace py = pybind11;

namespace iomux::python {
namespace {

py::object type_of(py::handle obj) { return py::reinterpret_borrow<py::object>(reinterpret_cast<PyObject*>(Py_TYPE(obj.ptr()))); }

}  // namespace

py::object derive_from_abc(const char* module, const char* name, py::handle core, py::handle abc, py::dict ns) {
    const py::object type = py::reinterpret_borrow<py::object>(reinterpret_cast<PyObject*>(&PyType_Type));
    const py::object meta = type(py::str(std::string("_") + name + "Type"), py::make_tuple(type_of(core), type_of(abc)),
                                 py::dict(py::arg("__module__") = module));
    ns["__module__"] = module;
    ns["__qualname__"] = name;
    return meta(py::str(name), py::make_tuple(core, abc), ns);
}

}  // namespace iomux::python
