#!/usr/bin/env bash
# Builds the consumer against iomux both ways a user would, and runs it:
#  1. pkg-config, against a `meson install --destdir` tree of this build;
#  2. meson, with iomux as a subproject.
# Usage: run.sh SOURCE_ROOT BUILD_ROOT
set -euo pipefail
src=$1 build=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== pkg-config against an installed tree"
meson install -C "$build" --no-rebuild --quiet --destdir "$work/dest"
pc=$(dirname "$(find "$work/dest" -name iomux.pc | head -n1)")
export PKG_CONFIG_PATH=$pc PKG_CONFIG_SYSROOT_DIR=$work/dest

# shellcheck disable=SC2046
c++ -std=c++20 "$here/consumer.cpp" -o "$work/consumer-pc" $(pkg-config --cflags --libs iomux)
LD_LIBRARY_PATH=$(dirname "$pc") "$work/consumer-pc"
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR

echo "== meson subproject"
mkdir -p "$work/proj/subprojects"
cp "$here/meson.build" "$here/consumer.cpp" "$work/proj/"
ln -s "$src" "$work/proj/subprojects/iomux"
meson setup "$work/proj/build" "$work/proj" >/dev/null
ninja -C "$work/proj/build" >/dev/null
"$work/proj/build/consumer"
