#include "stage_clock.hpp"

namespace stress {

void StageClock::start() {
    self_ = iomux::tools::self_cpu();
    if (server_cpu_) server_ = server_cpu_();
}

void StageClock::lap(StageResult& stage) {
    const iomux::tools::CpuTimes self = iomux::tools::self_cpu();
    stage.cpu_s = (self - self_).total();
    self_ = self;
    if (!server_cpu_) return;
    const std::optional<double> server = server_cpu_();
    if (server && server_) stage.server_cpu_s = *server - *server_;
    server_ = server;
}

}  // namespace stress
