// Runs iomux_compare (or any program) to completion and returns what it printed.
#pragma once

#include <string>
#include <vector>

namespace compare_test {

struct Ran {
    int status = -1;
    std::string out, err;
};

// args excludes the program; the program is $IOMUX_COMPARE. Bounded by 60 s.
Ran run_compare(const std::vector<std::string>& args);
Ran run_program(const std::vector<std::string>& argv);

// $name, or "" when unset.
std::string env(const char* name);

// Why $BARE_URING_ECHO cannot run here (not built, io_uring refused, kernel before 6.0), or
// "" when it can: then iomux_compare must show its bare-io_uring row too.
std::string bare_uring_unavailable();

}  // namespace compare_test
