#include "run_program.hpp"

#include <sys/utsname.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "common/child_process.hpp"
#include "poller/poller.hpp"

namespace compare_test {

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

std::string bare_uring_unavailable() {
    if (env("BARE_URING_ECHO").empty()) return "not built (liburing-dev missing)";
    try {
        iomux::make_poller("io_uring");
    } catch (const std::exception& e) {
        return e.what();
    }
    utsname u{};
    int major = 0, minor = 0;
    if (::uname(&u) == 0 && std::sscanf(u.release, "%d.%d", &major, &minor) == 2 && major * 100 + minor < 600)
        return "multishot recv needs Linux 6.0";
    return "";
}

Ran run_program(const std::vector<std::string>& argv) {
    iomux::tools::ChildProcess child(argv, {std::nullopt, true, true});
    auto output = child.collect(std::chrono::seconds(60));
    Ran r;
    r.status = child.wait(std::chrono::seconds(5));
    r.out = std::move(output.out);
    r.err = std::move(output.err);
    return r;
}

Ran run_compare(const std::vector<std::string>& args) {
    std::vector<std::string> argv{env("IOMUX_COMPARE")};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_program(argv);
}

}  // namespace compare_test
