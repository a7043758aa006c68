/*
 * tests/c/check.h - how the C test programs report (tests/c/api_test.c,
 * tests/cmake/main.c): one line per check, "PASS: name" or "FAIL: name: why",
 * the failures counted so that main can exit non-zero if any.
 */
#ifndef MMKIT_TEST_CHECK_H
#define MMKIT_TEST_CHECK_H

#include <stdio.h>

static int failures;

static void check(int ok, const char *name, const char *detail)
{
    if (ok) {
        printf("PASS: %s\n", name);
    } else {
        printf("FAIL: %s: %s\n", name, detail);
        failures++;
    }
}

#endif
