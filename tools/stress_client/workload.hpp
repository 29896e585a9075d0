// Workload: what main() runs. Each one owns a LoadEngine and drives it.
#pragma once

#include "run_result.hpp"

namespace stress {

class Workload {
public:
    virtual ~Workload() = default;
    // Connects, runs, and returns when the workload finished, failed beyond repair, ran
    // out of time (the engine's deadline) or was interrupted. Runs the reactor meanwhile.
    virtual RunResult run() = 0;
    // From a signal handler callback: stop now, counting the unfinished as interrupted.
    virtual void interrupt() = 0;
};

}  // namespace stress
