// The exceptions of the Selector and the Reactor that Python's selectors raises too
// (poller/errors.hpp has the table, and ValueError, which the poller throws as well).
//
//   Python          iomux                      when
//   KeyError        iomux::KeyError            duplicate register, unknown fd
//   RuntimeError    iomux::SelectorClosed      register_fd, modify, select, get_key on a
//                                              closed Selector
#pragma once

#include <stdexcept>

namespace iomux {

struct KeyError : std::out_of_range {
    using std::out_of_range::out_of_range;
};

struct SelectorClosed : std::logic_error {
    SelectorClosed() : std::logic_error("Selector is closed") {}
};

}  // namespace iomux
