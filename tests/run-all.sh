#!/usr/bin/env bash
# `make test`: every suite, in order, with one summary line at the end:
#   N passed, N failed
# Rust suites are counted from cargo's "test result:" lines; the shell, C and
# Python suites print one "PASS: name" / "FAIL: name: why" line per check.
set -u
cd "$(dirname "$0")/.."
root=$PWD
logs=$root/build/test-logs
rm -rf "$logs"
mkdir -p "$logs"
passed=0
failed=0
failed_steps=()

count_cargo() { # log -> adds its "test result" numbers
    local p f
    p=$(sed -n 's/^test result: .* \([0-9]*\) passed; \([0-9]*\) failed.*/\1/p' "$1" | awk '{s+=$1} END {print s+0}')
    f=$(sed -n 's/^test result: .* \([0-9]*\) passed; \([0-9]*\) failed.*/\2/p' "$1" | awk '{s+=$1} END {print s+0}')
    passed=$((passed + p))
    failed=$((failed + f))
    echo "   $p passed, $f failed"
}

count_lines() { # log -> adds its PASS:/FAIL: lines
    local p f
    p=$(grep -c '^PASS: ' "$1")
    f=$(grep -c '^FAIL: ' "$1")
    passed=$((passed + p))
    failed=$((failed + f))
    grep -E '^(FAIL|SKIP): ' "$1" | sed 's/^/   /'
    echo "   $p passed, $f failed"
}

# step NAME KIND COMMAND...: run, log, count. KIND is cargo, lines or check.
step() {
    local name=$1 kind=$2
    shift 2
    local log=$logs/$name.log
    echo "== $name: $*"
    local start=$SECONDS
    "$@" > "$log" 2>&1
    local rc=$?
    case $kind in
        cargo) count_cargo "$log" ;;
        lines) count_lines "$log" ;;
        check)
            if [ $rc -eq 0 ]; then passed=$((passed + 1)); echo "   ok"; else failed=$((failed + 1)); fi ;;
    esac
    if [ $rc -ne 0 ]; then
        failed_steps+=("$name")
        # A step that failed without any counted failure still counts as one.
        if [ "$kind" != check ] && ! grep -qE '^FAIL: |^test result: FAILED|[1-9][0-9]* failed' "$log"; then
            failed=$((failed + 1))
        fi
        echo "   step failed (exit $rc); last lines of $log:"
        tail -n 25 "$log" | sed 's/^/   | /'
    fi
    echo "   ($((SECONDS - start)) s)"
}

step fmt check cargo fmt --check
step clippy check cargo clippy --all-targets --quiet -- -D warnings
step doc check env RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
step rust cargo cargo test
# The portable paths other targets take, built and tested on Linux: without
# MAP_ANONYMOUS every anonymous region comes from /dev/zero (the whole anonymous
# suite runs against it), without memfd shareable memory comes from
# shm_open+shm_unlink, without process_vm_* the fault-safe copies go through a
# pipe, without mremap resizing makes a new mapping, without MADV_POPULATE_*
# MM_POPULATE touches every page (through the kernel for file-backed memory).
step rust-portable cargo env MMKIT_DISABLE=map_anonymous,memfd,o_tmpfile,seals,process_vm,mremap,map_populate \
    CARGO_TARGET_DIR="$root/target/portable" cargo test
step stage check make -s stage
step c lines make -s test-c
step cmake lines make -s test-cmake
step oom lines make -s test-oom
step man lines make -s test-man
step examples lines make -s test-examples
step python lines make -s test-python
step packaging lines make -s test-packaging
step check-memory lines make -s check-memory
step cross-check lines make -s cross-check
step msrv lines make -s msrv

echo
if [ ${#failed_steps[@]} -gt 0 ]; then
    echo "failed steps: ${failed_steps[*]} (logs in build/test-logs/)"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ ${#failed_steps[@]} -eq 0 ]
