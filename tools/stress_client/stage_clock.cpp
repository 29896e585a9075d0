#include "stage_clock.hpp"

#include <sys/resource.h>

namespace stress {

iomux::tools::CpuTimes StageClock::ours() const {
    if (scope_ == Scope::process) return iomux::tools::self_cpu();
    rusage ru{};
    ::getrusage(RUSAGE_THREAD, &ru);
    auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
    return {s(ru.ru_utime), s(ru.ru_stime)};
}

void StageClock::start() {
    self_ = ours();
    if (server_cpu_) server_ = server_cpu_();
}

void StageClock::lap(StageResult& stage) {
    const iomux::tools::CpuTimes self = ours();
    stage.cpu_s = (self - self_).total();
    self_ = self;
    if (!server_cpu_) return;
    const std::optional<double> server = server_cpu_();
    if (server && server_) stage.server_cpu_s = *server - *server_;
    server_ = server;
}

}  // namespace stress
