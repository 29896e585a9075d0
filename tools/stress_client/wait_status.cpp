#include "wait_status.hpp"

#include <sys/wait.h>

#include <cstring>

#include <fmt/format.h>

namespace stress {

std::string describe_wait_status(int status) {
    if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        const char* name = ::sigabbrev_np(WTERMSIG(status));
        return fmt::format("killed by SIG{}", name ? name : std::to_string(WTERMSIG(status)).c_str());
    }
    return fmt::format("ended with wait status {}", status);
}

}  // namespace stress
