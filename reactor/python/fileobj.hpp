// How a Python "file object" names an fd, as selectors._fileobj_to_fd has it: an int is the
// fd, anything else is asked for int(fileno()).
#pragma once

#include <pybind11/pybind11.h>

namespace iomux::python {

// The fd fileobj names. ValueError("Invalid file object: ...") when it is not an int and
// fileno() is missing or fails with AttributeError, TypeError or ValueError (other errors
// propagate); ValueError("Invalid file descriptor: ...") when it is negative. An int too
// large for any fd comes back as LLONG_MAX: a lookup then finds nothing, and register
// refuses it.
long long fileobj_to_fd(pybind11::handle fileobj);

}  // namespace iomux::python
