// StageClock: what each stage of a run cost in CPU, this client's and (when a server was
// spawned) the server's, so a summary can say where the time went: the connect stage
// costs a loopback client more than its server (the client's connect() runs both ends of
// the handshake), the message stages cost them about the same.
#pragma once

#include <functional>
#include <optional>

#include "common/process_stats.hpp"
#include "run_result.hpp"

namespace stress {

class StageClock {
public:
    // server_cpu: the server's CPU seconds so far, or nullopt (none, or gone).
    using Probe = std::function<std::optional<double>()>;
    // Whose CPU is "ours": the whole process, or only the calling thread (one of several
    // --threads, each timing its own stages; their figures are summed afterwards).
    enum class Scope { process, thread };
    explicit StageClock(Probe server_cpu = {}, Scope scope = Scope::process)
        : server_cpu_(std::move(server_cpu)), scope_(scope) {}

    // The first stage starts now.
    void start();
    // The current stage ends now: its CPU figures go into stage; the next one starts.
    void lap(StageResult& stage);

private:
    iomux::tools::CpuTimes ours() const;

    Probe server_cpu_;
    Scope scope_;
    iomux::tools::CpuTimes self_;
    std::optional<double> server_;
};

}  // namespace stress
