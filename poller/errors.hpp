// The exceptions iomux throws, one per Python exception that selectors raises.
//
//   Python          iomux                      when
//   KeyError        iomux::KeyError            duplicate register, unknown fd
//   ValueError      iomux::ValueError          events 0 or unknown bits, negative fd,
//                                              unknown backend name
//   RuntimeError    iomux::SelectorClosed      register_fd, modify, select, get_key on a
//                                              closed Selector
//   OSError         std::system_error          a syscall failed; code() is the errno
#pragma once

#include <stdexcept>

namespace iomux {

struct KeyError : std::out_of_range {
    using std::out_of_range::out_of_range;
};

struct ValueError : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
};

struct SelectorClosed : std::logic_error {
    SelectorClosed() : std::logic_error("Selector is closed") {}
};

}  // namespace iomux
