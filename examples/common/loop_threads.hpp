// run_loops: one server process's event loops, one per thread, each with its own listener.
//
//   examples::run_loops(backend, iomux::listen_tcp_for_loops("127.0.0.1", port, threads, false),
//       [](iomux::Reactor& loop, iomux::UniqueFd listener, std::size_t index) {
//           iomux::Server server(loop, factory, std::move(listener));   // on the loop's thread
//           loop.run();
//       },
//       [&] { examples::announce_port(port); });
//
// Loop 0 is the calling thread's, and also handles SIGINT and SIGTERM: they stop every loop.
// The others run on iomux::ReactorThreads (muduo's base loop plus EventLoopThreadPool), so
// with one listener no thread is started and the server is the plain single-loop one.
// Signals reach the calling thread only; SIGINT and SIGTERM stay blocked once run_loops
// returns, so that a second one cannot kill a process that is already shutting down.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>
#include <vector>

#include "poller/unique_fd.hpp"
#include "reactor/reactor.hpp"

namespace examples {

// Builds a server on loop around listener, runs the loop, and cleans up; on the loop's
// thread. It returns when the loop was stopped.
using ServeLoop = std::function<void(iomux::Reactor& loop, iomux::UniqueFd listener, std::size_t index)>;

// Runs serve once per listener, each on its own loop and thread, until SIGINT or SIGTERM,
// or until any of them returns or throws; then stops and joins the rest. on_ready (may be
// empty) runs on loop 0 in its first iteration. Rethrows the first exception a serve threw,
// and what iomux::Reactor's constructor throws.
void run_loops(std::string_view backend, std::vector<iomux::UniqueFd> listeners, const ServeLoop& serve,
               const std::function<void()>& on_ready);

}  // namespace examples
