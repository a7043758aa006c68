#!/usr/bin/env bash
# tests/windows/wine-run.sh PROGRAM.exe [ARGS...]: run one Windows program
# under Wine in the test prefix and exit with its exit code. Cargo's runner for
# x86_64-pc-windows-gnu (CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER) in
# tests/windows/run.sh, which makes the prefix; usable by hand afterwards:
#
#   CARGO_TARGET_DIR=target/windows \
#   CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc \
#   CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=$PWD/tests/windows/wine-run.sh \
#       cargo test --target x86_64-pc-windows-gnu
#
# The prefix is build/wine/prefix (MMKIT_WINEPREFIX overrides it; a WINEPREFIX
# of the caller's own is deliberately ignored). It must exist: a missing one
# would be made here, by the first test, with Wine's services holding that
# test's output pipe.
#
# Never hangs on a pipe: Wine's first process in a prefix starts the
# wineserver and the services (services.exe, winedevice.exe, explorer.exe,
# ...), which inherit its stdout/stderr and keep them open long after it
# exited, so whoever reads the program's output (cargo, $(...)) waits for an
# EOF that never comes. So when no wineserver runs for the prefix, this
# script starts one itself, persistent for a minute after the last program
# ends (tests/windows/run.sh starts one persistent until killed), and the
# services, with their output in build/wine/logs/wine-services.log, before it
# runs the program.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export WINEPREFIX=${MMKIT_WINEPREFIX:-$root/build/wine/prefix}
export WINEDEBUG=${MMKIT_WINEDEBUG:--all}
export WINEDLLOVERRIDES='mscoree,mshtml='
if [ $# -eq 0 ]; then
    echo "usage: $0 PROGRAM.exe [ARGS...]" >&2
    exit 2
fi
if [ ! -f "$WINEPREFIX/drive_c/windows/system32/kernel32.dll" ]; then
    echo "wine-run.sh: no Wine prefix at $WINEPREFIX: run tests/windows/run.sh (make test-windows) first" >&2
    exit 127
fi
log=$root/build/wine/logs/wine-services.log
mkdir -p "${log%/*}"
# wineserver -p exits 0 when it started a server, 2 when one already runs
# (which it leaves as it is).
if wineserver -p60 < /dev/null >> "$log" 2>&1; then
    wine cmd.exe /c exit 0 < /dev/null >> "$log" 2>&1
fi
# A terminal as standard input makes Wine's console code take it over; tests
# read no input.
[ -t 0 ] && exec < /dev/null
exec wine "$@"
