#include "hot_potato.hpp"

namespace iomux::compare {

void HotPotato::start_round() noexcept {
    fired_ = received_ = 0;
    writes_left_ = writes_;
    const std::size_t active = active_ == 0 ? 1 : (active_ > pairs_.size() ? pairs_.size() : active_);
    const std::size_t space = pairs_.size() / active;
    for (std::size_t i = 0; i < active; ++i) {
        if (::send(pairs_[i * space].write_end.get(), "e", 1, MSG_NOSIGNAL) == 1) {
            ++fired_;
            ++queued_[i * space];
        }
        else
            ++failures_;
    }
}

}  // namespace iomux::compare
