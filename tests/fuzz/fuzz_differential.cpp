// libFuzzer target: the differential engine (tests/differential/) over the fuzzer's bytes,
// every backend at once. Any disagreement aborts with the message naming the operation, the
// ones before it and the fds involved; libFuzzer then saves the input that caused it.
// Build and run: see tests/README.md.
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include "tests/differential/differential.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    iomux::differential::Differential run;
    if (const auto problem = run.run({data, size})) {
        fmt::print(stderr, "{}\n", *problem);
        std::abort();
    }
    return 0;
}
