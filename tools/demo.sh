#!/usr/bin/env bash
# The main job: the material's selectors echo server, done right, on every backend, driven
# by the material's 11000-connection client scenario. Usage: demo.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
if [ -x "$build/tools/compare/iomux_compare" ]; then
    exec "$build/tools/compare/iomux_compare"
fi
status=0
for backend in epoll epoll-et poll select; do
    echo "== echo_server --backend $backend, 11000 connections, three messages each"
    "$build/tools/stress_client/stress_client" --spawn-server "$backend" --conns 11000 || status=1
done
exit $status
