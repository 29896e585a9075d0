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

}  // namespace compare_test
