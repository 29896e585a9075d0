// run_prefork: a server as N pre-forked worker processes under a parent that supervises.
//
// Why processes: RLIMIT_NOFILE is per process, so a server for more connections than one
// process may hold fds (20000 here) must be several. Each worker is a whole server (its own
// loops, its own SO_REUSEPORT listeners made by the parent before the fork) and needs no
// coordination with the others.
//
//   auto listeners = iomux::listen_tcp_for_loops("127.0.0.1", port, workers, false);
//   return examples::run_prefork("echo_server", workers,
//       [&](std::size_t i, const std::function<void()>& ready) {   // in worker i
//           auto mine = std::move(listeners[i]);
//           listeners.clear();                  // the other workers' sockets
//           ... serve on mine, call ready() once serving, return the exit status ...
//       },
//       [&] { listeners.clear(); examples::announce_port(port); });   // in the parent
//
// The parent:
//  - waits until every worker called ready(), then calls on_ready: with SO_REUSEPORT the
//    parent must close its copies of the listeners there, or the connections the kernel
//    hashes to a dead worker's socket would wait forever in its queue;
//  - reports on stderr each worker that ends on its own, with its exit status or signal,
//    and keeps the others serving (their sockets take the dead one's share of new
//    connections);
//  - on SIGINT or SIGTERM sends SIGTERM to every worker, SIGKILL to one still there after
//    10 s, and returns once all ended;
//  - stops everything when a worker ends before it is ready or is not ready within 20 s.
// Workers never outlive it: each has PR_SET_PDEATHSIG (SIGKILL), so they die with it even
// when it is killed with SIGKILL itself.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

namespace examples {

// Runs in a worker, with its index; calls ready() once it serves; returns its exit status.
using Worker = std::function<int(std::size_t index, const std::function<void()>& ready)>;

// Forks n workers and supervises them as described above. Returns the parent's exit
// status: 0 when every worker was ready and ended with status 0 when told to stop, else 1.
// Call it while the process has a single thread: fork() copies only the calling one.
// In the parent, SIGINT, SIGTERM and SIGCHLD stay blocked once it returns.
// In a worker, SIGINT and SIGTERM are blocked when worker() starts, so that a stop request
// waits until the worker has handlers for them and unblocks them (run_loops does).
int run_prefork(std::string_view program, std::size_t n, const Worker& worker, const std::function<void()>& on_ready);

}  // namespace examples
