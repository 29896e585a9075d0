#include "run_program.hpp"

#include <chrono>
#include <cstdlib>

#include "common/child_process.hpp"

namespace compare_test {

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
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
