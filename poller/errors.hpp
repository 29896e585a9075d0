// The exceptions iomux throws, one per Python exception that selectors raises. ValueError
// lives here, since the poller throws it; the two only the Selector and the Reactor throw
// live in reactor/errors.hpp (poller/ depends on nothing of ours).
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

struct ValueError : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
};

}  // namespace iomux
