#include "binaries.hpp"

#include <unistd.h>

#include <filesystem>
#include <system_error>

namespace iomux::compare {

Binaries locate_binaries() {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path self = fs::read_symlink("/proc/self/exe", ec);
    const fs::path here = ec ? fs::current_path(ec) : self.parent_path();  // build/tools/compare
    const fs::path root = here.parent_path().parent_path();               // build
    return {
        (root / "examples" / "echo_server").string(),
        (root / "tools" / "stress_client" / "stress_client").string(),
        (here / "bare_epoll_echo").string(),
        here.string(),
    };
}

bool is_executable(const std::string& path) {
    return !path.empty() && ::access(path.c_str(), X_OK) == 0 && !std::filesystem::is_directory(path);
}

}  // namespace iomux::compare
