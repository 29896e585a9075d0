// A class whose methods are a pybind11 class's and which is also a real subclass of a Python
// abstract base class (selectors.BaseSelector, collections.abc.Mapping): isinstance and
// issubclass hold without registration, and the ABC's mixin methods (__enter__/__exit__,
// keys/values/items/get) come with it.
//
// pybind11 cannot name a Python class as a base, and Python refuses a class with both
// bases unless its metaclass derives from both metaclasses (pybind11's and ABCMeta); both
// add nothing to `type`'s layout, so one class can derive from both.
#pragma once

#include <pybind11/pybind11.h>

namespace iomux::python {

// class name(core, abc, metaclass=<both>) with the attributes in ns, in module `module`.
// core is the pybind11 class, first in the MRO so that its methods win over the ABC's.
pybind11::object derive_from_abc(const char* module, const char* name, pybind11::handle core,
                                 pybind11::handle abc, pybind11::dict ns);

}  // namespace iomux::python
