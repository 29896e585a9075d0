// instructions: the dispatch workload under valgrind's callgrind, which counts the
// user-space instructions each loop executes per dispatched event. Wall-clock ratios on a
// shared 2-core machine move by 10-25 % from one series to the next; these counts repeat
// exactly. Each row is one callgrind run of this program's own dispatch workload, counting
// its timed passes alone (dispatch_rounds.hpp), split by function into the loop's code, the
// benchmark's shared read callback (HotPotato) and libc's syscall wrappers. The
// kernel's time is not in it: that is what the dispatch workload's clock shows.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "common/child_process.hpp"
#include "peers.hpp"
#include "workloads.hpp"

namespace iomux::compare {
namespace {

bool is_syscall_wrapper(std::string_view fn) {
    static constexpr std::string_view kWrappers[] = {"recv",     "send",  "read",   "write", "epoll_wait", "epoll_pwait",
                                                     "epoll_ctl", "poll", "ppoll", "select", "pselect",    "syscall"};
    return std::find(std::begin(kWrappers), std::end(kWrappers), fn) != std::end(kWrappers);
}

// The harness's own few instructions a pass (dispatch_rounds.hpp) count as the loop's: the
// compiler inlines loops into it.
bool is_callback(std::string_view fn) { return fn.find("HotPotato::") != fn.npos; }

struct Counts {
    double loop = 0, callback = 0, syscalls = 0;
};

// Each function's own instructions from a callgrind file written with --compress-strings=no:
// "fn=NAME" starts a function, each "POSITION COST" line after it is its own cost, except
// the one after "calls=", which is what the call cost inclusively.
Counts read_callgrind(const std::string& path) {
    std::ifstream in(path);
    Counts c;
    std::string line, fn;
    bool call_cost = false;
    while (std::getline(in, line)) {
        if (line.starts_with("fn=")) {
            fn = line.substr(3);
        } else if (line.starts_with("calls=")) {
            call_cost = true;
        } else if (!line.empty() && (std::isdigit(static_cast<unsigned char>(line[0])) || line[0] == '+' || line[0] == '-')) {
            if (std::exchange(call_cost, false)) continue;
            const double ir = std::stod(line.substr(line.rfind(' ') + 1));
            (is_syscall_wrapper(fn) ? c.syscalls : is_callback(fn) ? c.callback : c.loop) += ir;
        }
    }
    return c;
}

}  // namespace

void run_instructions_workload(Context& ctx) {
    const Options& o = ctx.options;
    const auto valgrind = tools::find_on_path("valgrind");
    if (!valgrind) {
        ctx.note("instructions: valgrind is not installed (Debian: apt-get install valgrind); skipped");
        return;
    }
    std::error_code ec;
    const std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    std::vector<std::string> rows = ctx.rows();
    std::erase_if(rows, [](const std::string& r) { return is_peer(r) && !has_dispatch(r); });
    constexpr std::size_t kRounds = 2;  // the counts repeat exactly: more rounds change nothing
    ctx.note(fmt::format("instructions: user-space instructions per dispatched event under valgrind's callgrind, "
                         "{} rounds after a warm-up one; exact, so one run each", kRounds));
    for (const std::size_t n : o.instr_pairs) {
        const std::size_t active = std::min(o.active, n);
        const Params params{{"n", std::to_string(n)}, {"active", std::to_string(active)}, {"writes", std::to_string(o.writes)}};
        const double events = static_cast<double>(kRounds * (active + o.writes));
        for (const std::string& row : rows) {
            ctx.progress(fmt::format("instructions N={} {}", n, row));
            const std::string out = fmt::format("/tmp/iomux_compare_callgrind_{}", ::getpid());
            std::vector<std::string> argv{*valgrind, "--tool=callgrind", "--collect-atstart=no", "--compress-strings=no",
                                          "--compress-pos=no", "--callgrind-out-file=" + out, self, "dispatch",
                                          "--n", std::to_string(n), "--active", std::to_string(o.active),
                                          "--writes", std::to_string(o.writes), "--rounds", std::to_string(kRounds),
                                          "--repeat", "1", "--quiet", "--json", "--backends", row};
            if (row != kBareEpoll) argv.emplace_back("--no-bare");
            tools::ChildProcess child(argv, tools::SpawnOptions{std::nullopt, true, true});
            const auto output = child.collect(std::chrono::seconds(300));
            const int status = child.wait(std::chrono::seconds(5));
            if (status != 0 || output.timed_out) {
                ctx.failure(fmt::format("instructions N={} {}: callgrind run exited {}: {}", n, row, status,
                                        output.err.substr(output.err.size() > 300 ? output.err.size() - 300 : 0)));
                std::filesystem::remove(out, ec);
                continue;
            }
            const Counts c = read_callgrind(out);
            std::filesystem::remove(out, ec);
            Row& r = ctx.report.row("instructions", params, row);
            r.figure("loop_instr", "loop instr/event").samples.push_back(c.loop / events);
            r.figure("callback_instr", "callback instr/event").samples.push_back(c.callback / events);
            r.figure("syscall_instr", "syscall wrappers instr/event").samples.push_back(c.syscalls / events);
            r.figure("total_instr", "total instr/event").samples.push_back((c.loop + c.callback + c.syscalls) / events);
        }
    }
}

}  // namespace iomux::compare
