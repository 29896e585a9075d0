#include "placement.hpp"

#include <sched.h>

#include <fmt/format.h>

namespace iomux::compare {

Placement choose_placement() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) != 0) return {};
    Placement p;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (!CPU_ISSET(cpu, &set)) continue;
        if (!p.server_cpu) {
            p.server_cpu = cpu;
        } else {
            p.load_cpu = cpu;
            return p;
        }
    }
    return {};  // one CPU: pinning both to it would only add contention
}

std::string Placement::describe() const {
    if (!server_cpu || !load_cpu) return "not pinned (one CPU available)";
    return fmt::format("server on CPU {}, load on CPU {}", *server_cpu, *load_cpu);
}

}  // namespace iomux::compare
