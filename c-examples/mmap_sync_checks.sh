# c-examples/mmap_sync_checks.sh: the checks of mmap_sync that mean the same on
# every platform, sourced by c-examples/test.sh (natively) and by
# tests/windows/examples.sh (under Wine), each of which defines:
#   run_mmap_sync ARGS...   run the example: its status in $rc, its output
#                           for has_line, its stderr for errline
#   has_line LINE, errline, out_text (the output on one line), pass, fail
#   shown PATH              PATH as the program sees it (the Windows path under Wine)
# and $T, a scratch directory.

# counter_of FILE: the counter field (bytes 8..15, host order), read with od.
counter_of() { od -An -t u8 -j 8 -N 8 "$1" | tr -d ' \n'; }

# check_mmap_sync [PERM]: each sync mode run twice on a new record file (a new
# record, then the existing one: counter 1, then 2), the file's bytes checked
# with od (and, given PERM, the mode it was created with); a file that is not
# a record refused and left unchanged; bad usage exit 2.
check_mmap_sync() {
    local want_perm=${1:-} mode flagname f w n state name size magic cnt perm rc1 rc2
    for mode in --sync --async --invalidate; do
        case $mode in
            --sync) flagname="MM_SYNC" ;;
            --async) flagname="MM_ASYNC" ;;
            --invalidate) flagname="MM_SYNC|MM_INVALIDATE" ;;
        esac
        f=$T/rec$mode
        w=$(shown "$f")
        for n in 1 2; do
            name="mmap_sync $mode: run $n prints counter = $n"
            run_mmap_sync "$mode" "$w"
            if [ $n = 1 ]; then state="new record"; else state="existing record"; fi
            if [ $rc -ne 0 ]; then fail "$name" "exit $rc: $(errline)"
            elif ! has_line "file: $w: $state"; then fail "$name" "no line 'file: $w: $state' in: $(out_text)"
            elif ! has_line "counter = $n"; then fail "$name" "no line 'counter = $n'"
            elif ! has_line "mm_sync($flagname): ok"; then fail "$name" "no line 'mm_sync($flagname): ok'"
            elif ! has_line "pread sees: counter = $n"; then fail "$name" "no line 'pread sees: counter = $n'"
            else pass "$name"; fi
        done
        name="mmap_sync $mode: the file holds the magic and counter 2 (checked with od)"
        size=$(stat -c %s "$f" 2> /dev/null)
        magic=$(head -c 8 "$f" 2> /dev/null)
        cnt=$(counter_of "$f" 2> /dev/null)
        perm=$(stat -c %a "$f" 2> /dev/null)
        if [ "$size" != 16 ]; then fail "$name" "size is '$size', want 16"
        elif [ "$magic" != MMKITREC ]; then fail "$name" "magic is '$magic'"
        elif [ "$cnt" != 2 ]; then fail "$name" "counter is '$cnt'"
        elif [ -n "$want_perm" ] && [ "$perm" != "$want_perm" ]; then
            fail "$name" "created with mode $perm, want $want_perm"
        else pass "$name"; fi
    done

    name="mmap_sync: a file that is not a record is refused and left unchanged"
    printf 'this is not a record file\n' > "$T/notrec"
    cp "$T/notrec" "$T/notrec.orig"
    printf 'abc' > "$T/short"
    cp "$T/short" "$T/short.orig"
    run_mmap_sync "$(shown "$T/notrec")"
    rc1=$rc
    run_mmap_sync "$(shown "$T/short")"
    rc2=$rc
    if [ $rc1 -ne 1 ] || [ $rc2 -ne 1 ]; then fail "$name" "exit $rc1 / $rc2, want 1"
    elif ! cmp -s "$T/notrec" "$T/notrec.orig" || ! cmp -s "$T/short" "$T/short.orig"; then fail "$name" "file was modified"
    else pass "$name"; fi

    name="mmap_sync: bad usage exits 2"
    run_mmap_sync
    rc1=$rc
    run_mmap_sync --bogus "$(shown "$T/x")"
    rc2=$rc
    if [ $rc1 -eq 2 ] && [ $rc2 -eq 2 ] && [ ! -e "$T/x" ]; then pass "$name"
    else fail "$name" "exit $rc1 / $rc2"; fi
}
