// How a child process ended, in words: "exited with status 3", "killed by SIGKILL".
#pragma once

#include <string>

namespace stress {

// status: as waitpid() returns it.
std::string describe_wait_status(int status);

}  // namespace stress
