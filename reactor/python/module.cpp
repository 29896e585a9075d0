// The Python module `iomux`: CPython's selectors API over iomux's backends.
//
//   iomux.DefaultSelector()        $IOMUX_BACKEND, else epoll (as iomux::default_backend)
//   iomux.IomuxEpollSelector() ... one class per level-triggered backend of the build
//   iomux.selector_classes()       {backend name: class}
//   iomux.backend_names(), iomux.available_backends(), iomux.default_backend()
//
// Every class is a real selectors.BaseSelector subclass returning selectors.SelectorKey, so
// asyncio.SelectorEventLoop(iomux.DefaultSelector()) runs on it. No class is named
// EpollSelector, PollSelector or DevpollSelector: CPython's test_selectors takes those names
// for the stdlib's own classes and patches them.
#include <cctype>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "poller/poller.hpp"
#include "reactor/python/abc_bridge.hpp"
#include "reactor/python/errors.hpp"
#include "reactor/python/gc_support.hpp"
#include "reactor/python/selector_core.hpp"
#include "reactor/python/selector_map.hpp"

namespace py = pybind11;
using iomux::python::SelectorCore;
using iomux::python::SelectorMapCore;

namespace {

// "io_uring" -> "IomuxIoUringSelector".
std::string class_name(const std::string& backend) {
    std::string name = "Iomux";
    bool upper = true;
    for (char c : backend) {
        if (!std::isalnum(static_cast<unsigned char>(c))) {
            upper = true;
            continue;
        }
        name += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
        upper = false;
    }
    return name + "Selector";
}

// Level-triggered, as selectors must be. A backend the kernel refuses (io_uring) is taken
// at its word, since only epoll-et is edge-triggered; its class raises OSError when made.
bool level_triggered(const std::string& backend) {
    try {
        return !iomux::make_poller(backend)->edge_triggered();
    } catch (const std::system_error&) {
        return true;
    }
}

}  // namespace

PYBIND11_MODULE(iomux, m) {
    m.doc() = "CPython's selectors over iomux's backends: select (no FD_SETSIZE limit), poll, epoll, io_uring.";
    iomux::python::register_error_translation();
    m.attr("EVENT_READ") = iomux::EVENT_READ;
    m.attr("EVENT_WRITE") = iomux::EVENT_WRITE;
    m.def("backend_names", &iomux::backend_names, "The backends of this build, best first.");
    m.def("available_backends", &iomux::available_backends,
          "The backends of this build that the kernel allows (io_uring may be refused).");
    m.def("default_backend", &iomux::default_backend,
          "$IOMUX_BACKEND when set (ValueError if it names no backend), else 'epoll'.");

    py::class_<SelectorMapCore> map_core(m, "_SelectorMapCore", iomux::python::gc_support<SelectorMapCore>());
    map_core.def(py::init<py::object>(), py::arg("selector"))
        .def("__len__", &SelectorMapCore::size)
        .def("__getitem__", &SelectorMapCore::getitem, py::arg("fileobj"))
        .def("__iter__", &SelectorMapCore::iter);
    py::dict map_ns;
    map_ns["__slots__"] = py::tuple();
    map_ns["__doc__"] = "A live read-only mapping of a selector's file objects to their keys.";
    const py::object mapping = iomux::python::derive_from_abc(
        "iomux", "SelectorMapping", map_core, py::module_::import("collections.abc").attr("Mapping"), map_ns);
    m.attr("SelectorMapping") = mapping;

    py::class_<SelectorCore> core(m, "_SelectorCore", iomux::python::gc_support<SelectorCore>());
    // None: iomux::default_backend(), so that DefaultSelector reads $IOMUX_BACKEND each time.
    core.def(py::init([](const std::optional<std::string>& backend) {
                 return std::make_unique<SelectorCore>(backend ? *backend : iomux::default_backend());
             }),
             py::arg("backend") = py::none())
        .def("register", &SelectorCore::register_fileobj, py::arg("fileobj"), py::arg("events"),
             py::arg("data") = py::none())
        .def("unregister", &SelectorCore::unregister, py::arg("fileobj"))
        .def("modify", &SelectorCore::modify, py::arg("fileobj"), py::arg("events"), py::arg("data") = py::none())
        .def("select", &SelectorCore::select, py::arg("timeout") = py::none())
        .def("get_key", &SelectorCore::get_key, py::arg("fileobj"))
        .def("get_map", [mapping](py::object self) { return mapping(std::move(self)); })
        .def("close", &SelectorCore::close)
        .def_property_readonly("backend", &SelectorCore::backend, "The name of the backend in use.")
        .def("_fileno", &SelectorCore::fileno)
        // An attribute only where the backend has an fd of its own, as the stdlib's
        // EpollSelector has fileno() and its PollSelector and SelectSelector do not.
        .def_property_readonly("fileno", [](py::object self) -> py::object {
            if (!self.cast<const SelectorCore&>().has_fileno())
                throw py::attribute_error("this selector's backend has no fd of its own");
            return self.attr("_fileno");
        });

    const py::object base = py::module_::import("selectors").attr("BaseSelector");
    const py::object partialmethod = py::module_::import("functools").attr("partialmethod");
    // backend: a name, or None for $IOMUX_BACKEND, read at each instantiation.
    auto define = [&](const std::string& name, py::object backend, const std::string& doc) {
        py::dict ns;
        ns["__doc__"] = doc;
        ns["__init__"] = partialmethod(core.attr("__init__"), backend);
        py::object cls = iomux::python::derive_from_abc("iomux", name.c_str(), core, base, ns);
        m.attr(name.c_str()) = cls;
        return cls;
    };
    define("DefaultSelector", py::none(),
           "The selector on $IOMUX_BACKEND when it is set (a level-triggered backend), else on epoll.");
    py::dict classes;
    for (const std::string& backend : iomux::backend_names()) {
        if (!level_triggered(backend)) continue;
        classes[py::str(backend)] = define(class_name(backend), py::str(backend), "The selector on iomux's " + backend + " backend.");
    }
    m.def("selector_classes",
          [classes] {
              PyObject* copy = PyDict_Copy(classes.ptr());  // the caller's own: the module's stays as it is
              if (copy == nullptr) throw py::error_already_set();
              return py::reinterpret_steal<py::dict>(copy);
          },
          "The selector class of each level-triggered backend of this build, by backend name.");
}
