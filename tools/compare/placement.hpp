// Where the server and the load generator run. On a machine with two CPUs a closed loop
// saturates both; pinning them apart keeps the scheduler from stacking them on one CPU in
// some runs and not in others, which would make run-to-run noise look like backend cost.
#pragma once

#include <optional>
#include <string>

namespace iomux::compare {

struct Placement {
    std::optional<int> server_cpu, load_cpu;  // nullopt: not pinned
    std::string describe() const;
};

// The first two CPUs this process may run on, or no pinning when it has only one.
Placement choose_placement();

}  // namespace iomux::compare
