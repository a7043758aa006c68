/*
 * tests/c/check.h - how the C test programs report (tests/c/api_test.c,
 * tests/windows/api_test.c, tests/cmake/main.c): one line per check,
 * "PASS: name" or "FAIL: name: why", the failures counted so that main can
 * exit non-zero if any. Each line is flushed: a crash (under Wine too) loses
 * none of them.
 */
#ifndef MMKIT_TEST_CHECK_H
#define MMKIT_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int failures;

static void check(int ok, const char *name, const char *detail)
{
    if (ok) {
        printf("PASS: %s\n", name);
    } else {
        printf("FAIL: %s: %s\n", name, detail);
        failures++;
    }
    fflush(stdout);
}

#ifdef MMKIT_H
/* rc must be -err and mm_last_error() must start with "call: ". */
static inline void check_err(int rc, int err, const char *call, const char *name)
{
    char detail[600];
    const char *msg = mm_last_error();
    size_t n = strlen(call);
    int ok = rc == -err && msg != NULL && strncmp(msg, call, n) == 0 && msg[n] == ':';
    snprintf(detail, sizeof detail, "rc %d (want %d), message \"%.500s\"", rc, -err, msg ? msg : "(null)");
    check(ok, name, detail);
}
#endif

#endif
