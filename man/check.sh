#!/usr/bin/env bash
# man/check.sh - the checks of the section-3 manual pages (run by `make test`).
#
#   bash man/check.sh
#
# Prints one line per check, `PASS: name`, `FAIL: name: why` or `SKIP: name: why`,
# and exits non-zero if any check failed. Checks:
#   lint       every page lints clean: mandoc -T lint (installed with apt-get when
#              missing and running as root), else groff -man -ww -z
#   alias      every one-line alias page is `.so man3/PAGE.3` of a real page whose
#              NAME lists the alias
#   th         every page's .TH names the page, section 3, and the version in Cargo.toml
#   synopsis   every page's SYNOPSIS has `#include <mmkit.h>`, the pkg-config line and
#              (function pages) prototypes for exactly the names in its NAME line
#   prototype  each SYNOPSIS prototype equals the declaration in include/mmkit.h
#              (whitespace normalised); SKIP when the header does not declare it yet
#   symbol     every exported symbol (tests/abi-symbols.txt) and every function the
#              header declares has a page that documents it
#   example    each page's EXAMPLES program compiles (cc -fsyntax-only) against
#              include/mmkit.h; SKIP without a C compiler or when it uses a function
#              the header does not declare yet
#   render     `man -l` renders each page without warnings (only when man(1) exists)
#
# Needs bash 4 or later (associative arrays).
# Environment: MMKIT_MAN_LINTER=mandoc|groff forces the tool (groff also renders
# then); MMKIT_MAN_NO_INSTALL=1 never runs apt-get; CC picks the compiler.
set -u
cd "$(dirname "$0")/.." || exit 2
root=$PWD
mandir=$root/man
header=$root/include/mmkit.h
symbols=$root/tests/abi-symbols.txt

failed=0
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; failed=$((failed + 1)); }
skip() { echo "SKIP: $1: $2"; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mmkit-man.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
# Pages are checked in a man3/ tree so that `.so man3/X.3` resolves as installed.
mkdir "$tmp/man3"
pages=()
for f in "$mandir"/*.3; do
    [ -e "$f" ] || continue
    cp "$f" "$tmp/man3/"
    pages+=("$(basename "$f")")
done
if [ ${#pages[@]} -eq 0 ]; then
    fail pages "no man/*.3 pages found"
    exit 1
fi

# ------------------------------------------------------------------ the linter
linter=
if [ -n "${MMKIT_MAN_LINTER:-}" ]; then
    linter=$MMKIT_MAN_LINTER
    command -v "$linter" > /dev/null 2>&1 || { fail linter "MMKIT_MAN_LINTER=$linter is not installed"; linter=; }
elif command -v mandoc > /dev/null 2>&1; then
    linter=mandoc
elif [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null 2>&1 && [ "${MMKIT_MAN_NO_INSTALL:-0}" != 1 ]; then
    echo "# mandoc missing: apt-get install -y mandoc" >&2
    if DEBIAN_FRONTEND=noninteractive apt-get install -y -q mandoc > "$tmp/apt.log" 2>&1 ||
        { DEBIAN_FRONTEND=noninteractive apt-get update -q > "$tmp/apt.log" 2>&1 &&
              DEBIAN_FRONTEND=noninteractive apt-get install -y -q mandoc >> "$tmp/apt.log" 2>&1; }; then
        command -v mandoc > /dev/null 2>&1 && linter=mandoc
    else
        echo "# apt-get could not install mandoc (last lines of its log):" >&2
        tail -n 3 "$tmp/apt.log" | sed 's/^/#   /' >&2
    fi
fi
if [ -z "$linter" ] && [ -z "${MMKIT_MAN_LINTER:-}" ] && command -v groff > /dev/null 2>&1; then
    linter=groff
fi
echo "# lint tool: ${linter:-none}"

# is_alias PAGE: the page is a one-line `.so` alias.
is_alias() { grep -q '^\.so ' "$tmp/man3/$1"; }

# lint PAGE -> messages on stdout (empty when clean). Run inside $tmp for .so.
lint() {
    local page=$1
    case $linter in
        mandoc)
            # `.so` aliases are what the pages are asked to be; mandoc's
            # "better use ln(1)" style advice about them is not a defect.
            (cd "$tmp" && mandoc -T lint -W style "man3/$page" 2>&1) |
                grep -v 'WARNING: \.so is fragile, better use ln(1)' ;;
        groff)
            (cd "$tmp" && groff -man -t -ww -z "man3/$page" 2>&1) ;;
    esac
}

# render PAGE -> plain text (no overstrike), wide enough that nothing wraps.
render() {
    local page=$1
    if [ "$linter" = mandoc ] || { [ "$linter" != groff ] && command -v mandoc > /dev/null 2>&1; }; then
        (cd "$tmp" && mandoc -T ascii -O width=250 "man3/$page" 2>/dev/null)
    else
        (cd "$tmp" && groff -man -t -T ascii -P -c -rLL=250n "man3/$page" 2>/dev/null)
    fi | sed 's/.\x08//g'
}

# section TEXT NAME -> the lines of section NAME of rendered TEXT (from stdin).
section() {
    awk -v want="$1" '
        /^[A-Z][A-Z ]*[A-Z]$/ { on = ($0 == want); next }
        on { print }'
}

# canon: one declaration per line -> whitespace-normalised form.
canon() {
    sed -E 's/[[:space:]]+/ /g; s/^ //; s/ $//; s/ ?([*(),]) ?/\1/g'
}

# protos: C text on stdin -> "name<TAB>canonical declaration" per prototype;
# chunks that are not prototypes of mm_* functions are printed as "?<TAB>chunk".
protos() {
    tr '\n' ' ' | tr ';' '\n' | canon | while IFS= read -r d; do
        [ -n "$d" ] || continue
        if [[ $d =~ ^[A-Za-z_][A-Za-z0-9_\ *]*[\ *](mm_[a-z0-9_]+)\([^\(\)]*\)$ ]]; then
            printf '%s\t%s\n' "${BASH_REMATCH[1]}" "$d"
        else
            printf '?\t%s\n' "$d"
        fi
    done
}

# --------------------------------------------------------- the header's view
declare -A decl=()
if [ -r "$header" ]; then
    # Drop comments and preprocessor lines; braces separate declarations too.
    while IFS=$'\t' read -r name d; do
        [ "$name" = "?" ] && continue
        decl[$name]=$d
    done < <(awk '
        {
            line = $0; out = ""; i = 1
            while (i <= length(line)) {
                c2 = substr(line, i, 2)
                if (inc) { if (c2 == "*/") { inc = 0; i += 2 } else i++ }
                else if (c2 == "/*") { inc = 1; i += 2 }
                else if (c2 == "//") break
                else { out = out substr(line, i, 1); i++ }
            }
            print out
        }' "$header" | grep -v '^[[:space:]]*#' | sed 's/extern "C"//g; s/[{}]/;/g' | protos)
    if [ ${#decl[@]} -gt 0 ]; then
        pass "header: include/mmkit.h declares ${#decl[@]} functions"
    else
        fail header "no mm_* function declarations found in include/mmkit.h"
    fi
else
    fail header "include/mmkit.h not readable"
fi

version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" 2>/dev/null | head -n 1)

# ------------------------------------------------------------- page by page
declare -A documents=()   # function name -> page that documents it (NAME + SYNOPSIS)
declare -A names_of=()    # real page -> space-separated names in its NAME line

for page in "${pages[@]}"; do
    # lint
    if [ -z "$linter" ]; then
        fail "lint: $page" "neither mandoc nor groff is available"
    else
        msgs=$(lint "$page")
        if [ -z "$msgs" ]; then
            pass "lint: $page ($linter)"
        else
            fail "lint: $page" "$(echo "$msgs" | head -n 1) ($(echo "$msgs" | wc -l) messages)"
        fi
    fi

    if is_alias "$page"; then
        continue
    fi

    # .TH NAME 3 DATE "mmkit VERSION" "mmkit Manual"
    th=$(grep -m 1 '^\.TH ' "$tmp/man3/$page")
    want_title=$(basename "$page" .3 | tr '[:lower:]' '[:upper:]')
    if [[ $th =~ ^\.TH\ ([A-Z0-9_]+)\ 3\ [0-9]{4}-[0-9]{2}-[0-9]{2}\ \"mmkit\ ([^\"]+)\"\ \"mmkit\ Manual\"$ ]] &&
        [ "${BASH_REMATCH[1]}" = "$want_title" ]; then
        if [ -n "$version" ] && [ "${BASH_REMATCH[2]}" != "$version" ]; then
            fail "th: $page" "says mmkit ${BASH_REMATCH[2]}, Cargo.toml says $version"
        else
            pass "th: $page"
        fi
    else
        fail "th: $page" "expected .TH $want_title 3 YYYY-MM-DD \"mmkit $version\" \"mmkit Manual\", got: $th"
    fi

    text=$(render "$page")
    # NAME: "a, b, c - what"
    name_line=$(printf '%s\n' "$text" | section NAME | tr '\n' ' ' | sed -E 's/[[:space:]]+/ /g; s/^ //')
    names=$(printf '%s\n' "${name_line%% - *}" | tr ',' ' ' | xargs)
    names_of[$page]=$names

    synopsis=$(printf '%s\n' "$text" | section SYNOPSIS)
    if ! grep -q '^[[:space:]]*#include <mmkit\.h>[[:space:]]*$' <<< "$synopsis"; then
        fail "synopsis: $page" "no '#include <mmkit.h>' line"
    elif ! grep -qF 'cc ... $(pkg-config --cflags --libs mmkit)' <<< "$synopsis"; then
        fail "synopsis: $page" "no 'cc ... \$(pkg-config --cflags --libs mmkit)' line"
    else
        # Prototypes: everything but the #include and cc lines.
        found=()
        bad=
        while IFS=$'\t' read -r name d; do
            if [ "$name" = "?" ]; then
                bad="not a prototype: '$d'"
                continue
            fi
            found+=("$name")
            if [ -z "${decl[$name]+x}" ]; then
                skip "prototype: $name ($page)" "not declared in include/mmkit.h yet"
            elif [ "${decl[$name]}" = "$d" ]; then
                pass "prototype: $name ($page)"
            else
                fail "prototype: $name ($page)" "page has '$d', header has '${decl[$name]}'"
            fi
            # The page documents a function it both names and declares.
            if [[ " $names " == *" $name "* ]]; then
                documents[$name]=$page
            fi
        done < <(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*cc ' <<< "$synopsis" | protos)
        if [ -n "$bad" ]; then
            fail "synopsis: $page" "$bad"
        elif [ "$page" = mmkit.3 ]; then
            if [ ${#found[@]} -eq 0 ]; then
                pass "synopsis: $page"
            else
                fail "synopsis: $page" "the overview should declare no function"
            fi
        elif [ ${#found[@]} -eq 0 ]; then
            fail "synopsis: $page" "no prototype found"
        elif [ "$(printf '%s\n' "${found[@]}" | sort | xargs)" != "$(printf '%s\n' $names | sort | xargs)" ]; then
            fail "synopsis: $page" "NAME lists '$names' but SYNOPSIS declares '${found[*]}'"
        else
            pass "synopsis: $page"
        fi
    fi

    # EXAMPLES: from the first #include line to the end of the section.
    example=$(printf '%s\n' "$text" | section EXAMPLES | sed -n '/^[[:space:]]*#include/,$p')
    cc=${CC:-cc}
    if [ -z "$example" ]; then
        fail "example: $page" "no EXAMPLES program"
    elif ! command -v "$cc" > /dev/null 2>&1; then
        skip "example: $page" "no C compiler ($cc)"
    else
        missing=
        for f in $(grep -oE '\bmm_[a-z0-9_]+\(' <<< "$example" | tr -d '(' | sort -u); do
            [ -n "${decl[$f]+x}" ] || missing="$missing $f"
        done
        if [ -n "$missing" ]; then
            skip "example: $page" "uses${missing}, not declared in include/mmkit.h yet"
        elif out=$(printf '%s\n' "$example" |
                   "$cc" -fsyntax-only -Wall -Wextra -I "$root/include" -x c - 2>&1) && [ -z "$out" ]; then
            pass "example: $page"
        else
            fail "example: $page" "$(echo "$out" | grep -m 1 -E 'error|warning' || echo "$out" | head -n 1)"
        fi
    fi
done

# ------------------------------------------------------------------ aliases
for page in "${pages[@]}"; do
    is_alias "$page" || continue
    alias_name=$(basename "$page" .3)
    if [ "$(wc -l < "$tmp/man3/$page")" -ne 1 ]; then
        fail "alias: $page" "an alias page is exactly one line '.so man3/PAGE.3'"
        continue
    fi
    target=$(sed -n 's|^\.so man3/\([A-Za-z0-9_]*\.3\)$|\1|p' "$tmp/man3/$page")
    if [ -z "$target" ]; then
        fail "alias: $page" "expected '.so man3/PAGE.3', got '$(cat "$tmp/man3/$page")'"
    elif [ ! -f "$tmp/man3/$target" ]; then
        fail "alias: $page" "man/$target does not exist"
    elif is_alias "$target"; then
        fail "alias: $page" "man/$target is itself an alias"
    elif [[ " ${names_of[$target]:-} " != *" $alias_name "* ]]; then
        fail "alias: $page" "the NAME line of $target does not list $alias_name"
    else
        pass "alias: $page -> $target"
    fi
done

# page_for NAME -> the real page man/NAME.3 leads to (itself or its .so target)
page_for() {
    local p=$1.3
    [ -f "$tmp/man3/$p" ] || return 1
    if is_alias "$p"; then
        p=$(sed -n 's|^\.so man3/\([A-Za-z0-9_]*\.3\)$|\1|p' "$tmp/man3/$p")
        [ -n "$p" ] && [ -f "$tmp/man3/$p" ] || return 1
    fi
    echo "$p"
}

# check_documented WHAT NAME: man/NAME.3 exists and leads to the page documenting NAME.
check_documented() {
    local what=$1 name=$2 p
    if ! p=$(page_for "$name"); then
        fail "$what: $name" "no page man/$name.3 (or its alias target is missing)"
    elif [ "${documents[$name]:-}" != "$p" ]; then
        fail "$what: $name" "man/$name.3 leads to $p, whose NAME and SYNOPSIS do not both document $name"
    else
        pass "$what: $name -> $p"
    fi
}

# ------------------------------------------------------------- symbols
if [ -r "$symbols" ]; then
    n=0
    while read -r sym _; do
        case $sym in '' | '#'*) continue ;; esac
        n=$((n + 1))
        check_documented symbol "$sym"
    done < "$symbols"
    [ "$n" -gt 0 ] || fail symbols "tests/abi-symbols.txt lists no symbol"
else
    fail symbols "tests/abi-symbols.txt not readable"
fi
for name in $(printf '%s\n' "${!decl[@]}" | sort); do
    check_documented "header function" "$name"
done

# ------------------------------------------------------------- man -l (optional)
# man-db's man(1) (it has --warnings); mandoc's man is covered by the lint above.
if command -v man > /dev/null 2>&1 && man --help 2>&1 | grep -q -- '--warnings'; then
    for page in "${pages[@]}"; do
        out=$(cd "$tmp" && MANWIDTH=80 man --warnings -l "man3/$page" 2>&1 > /dev/null)
        rc=$?
        if [ $rc -eq 0 ] && [ -z "$out" ]; then
            pass "render: $page (man -l)"
        else
            fail "render: $page" "man -l: $(echo "${out:-exit status $rc}" | head -n 1)"
        fi
    done
else
    skip render "man(1) from man-db is not installed"
fi

echo "# $failed check(s) failed"
[ "$failed" -eq 0 ]
