#!/usr/bin/env bash
# The two Quick start commands of README.md, and what .ci/run calls.
#   bash tools/dev.sh demo   install what is missing, build, run the main job
#   bash tools/dev.sh test   install what is missing, build, run the whole test suite
# Run as root on Debian 12 (it installs apt packages), or as a user with them installed.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
build=${IOMUX_BUILD_DIR:-build}

packages=(g++ meson ninja-build pkg-config libfmt-dev doctest-dev curl wrk python3 procps
          gnuplot-nox libevent-dev libev-dev libuv1-dev liburing-dev
          clang libclang-rt-14-dev valgrind
          libcli11-dev nlohmann-json3-dev libasio-dev
          pybind11-dev python3-dev libpython3.11-testsuite)

install_missing() {
    local missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
        exit 1
    fi
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

configure_and_build() {
    if [ -f "$build/build.ninja" ]; then
        meson setup --reconfigure "$build" >/dev/null
    else
        meson setup "$build" >/dev/null
    fi
    ninja -C "$build"
}

case "$mode" in
demo)
    install_missing
    configure_and_build
    exec bash tools/demo.sh "$build"
    ;;
test)
    install_missing
    configure_and_build
    # Two processes: the machine has two cores, and the timing tests need a core each.
    status=0
    meson test -C "$build" --num-processes 2 --print-errorlogs || status=$?
    logs=("$build/meson-logs/testlog.json")
    # valgrind memcheck on the reactor, the conformance suite (select) and the example
    # servers: its own suite, which a plain `meson test` leaves out (tests/meson.build).
    meson test -C "$build" --no-rebuild --num-processes 2 --print-errorlogs --suite memcheck \
        --logbase memcheck || status=$?
    logs+=("$build/meson-logs/memcheck.json")
    # The library's own suites again under sanitizers, each in its build directory: ASan +
    # UBSan for the conformance, differential, fault, reactor and transport tests, TSan for the
    # cross-thread ones (the reactor and its threads).
    # (The example tests bound the servers' RSS, which ASan's shadow memory would break.)
    export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 TSAN_OPTIONS=halt_on_error=1
    for san in address,undefined thread; do
        dir="$build-${san%%,*}"
        [ -f "$dir/build.ninja" ] || meson setup "$dir" -Dbuildtype=debug -Db_sanitize="$san" >/dev/null
        suites=(--suite reactor --suite reactor_threads)
        targets=(tests/test_reactor tests/test_reactor_threads)
        if [ "$san" != thread ]; then
            suites+=(--suite conformance --suite differential --suite faults --suite transport)
            targets+=(tests/test_conformance tests/test_differential tests/test_faults tests/test_transport)
        else
            # The stress client's --threads and --workers runs too (below), with the tool
            # itself built under TSan: its reactors on threads and their phase barrier.
            targets+=(tools/stress_client/stress_client tests/stress/test_stress_client examples/echo_server)
            # TSan runs a signal handler only at a call it intercepts, and io_uring_enter (a
            # raw syscall in liburing) is not one: a signal meant to wake a loop blocked
            # there never arrives, and the reactor's signal test hangs.
            suites+=(--no-suite io_uring)
        fi
        ninja -C "$dir" "${targets[@]}"
        meson test -C "$dir" --no-rebuild --num-processes 2 --print-errorlogs "${suites[@]}" || status=$?
        logs+=("$dir/meson-logs/testlog.json")
        if [ "$san" = thread ]; then
            meson test -C "$dir" --no-rebuild --print-errorlogs --logbase stress "stress_client epoll" || status=$?
            logs+=("$dir/meson-logs/stress.json")
        fi
    done
    # The differential fuzzer: clang's libFuzzer with ASan + UBSan, 60 s from a copy of the
    # checked-in corpus (tests/fuzz/). Skipped where clang cannot build it.
    dir="$build-fuzz"
    if [ ! -f "$dir/build.ninja" ] && command -v clang++ >/dev/null; then
        CXX=clang++ meson setup "$dir" >/dev/null
    fi
    if [ -f "$dir/build.ninja" ] && ninja -C "$dir" -t query tests/fuzz/fuzz_differential >/dev/null 2>&1; then
        ninja -C "$dir" tests/fuzz/fuzz_differential
        meson test -C "$dir" --no-rebuild --print-errorlogs --suite fuzz || status=$?
        logs+=("$dir/meson-logs/testlog.json")
    else
        echo "fuzz: skipped (clang with libFuzzer not found: apt-get install clang libclang-rt-14-dev)"
    fi
    python3 - "${logs[@]}" <<'PY'
import json, os, sys
for log in sys.argv[1:]:
    if not os.path.exists(log):
        print(f"missing: {log} (that step failed before running its tests)")
results = [json.loads(line)["result"] for log in sys.argv[1:] if os.path.exists(log) for line in open(log)]
ok = sum(r in ("OK", "EXPECTEDFAIL") for r in results)
skipped = sum(r == "SKIP" for r in results)
print(f"{ok} passed, {len(results) - ok - skipped} failed, {skipped} skipped")
PY
    exit $status
    ;;
*)
    echo "usage: bash tools/dev.sh demo|test" >&2
    exit 2
    ;;
esac
