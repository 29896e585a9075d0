// iomux's exceptions as Python's own (poller/errors.hpp's table, read the other way):
// KeyError, ValueError, RuntimeError for a closed selector, OSError with the errno.
#pragma once

namespace iomux::python {

// Installs the translation for every function of the module; once, at import.
void register_error_translation();

}  // namespace iomux::python
