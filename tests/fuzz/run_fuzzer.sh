#!/usr/bin/env bash
# Runs the differential fuzzer for a bounded time from a copy of a seed corpus.
#   run_fuzzer.sh FUZZER CORPUS WORKDIR SECONDS [libFuzzer options...]
# New inputs go to WORKDIR/corpus, a crashing input to WORKDIR/ (named in the output);
# CORPUS is only read. Exits non-zero when the fuzzer found a problem.
set -euo pipefail
fuzzer=$1 corpus=$2 work=$3 seconds=$4
shift 4
rm -rf "$work"
mkdir -p "$work/corpus"
cp -R "$corpus"/. "$work/corpus/"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# -max_len: 256 operations; -timeout: one input never takes a second, a hang does.
exec "$fuzzer" -max_total_time="$seconds" -max_len=512 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$work/" "$@" "$work/corpus"
