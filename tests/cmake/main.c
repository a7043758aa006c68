/*
 * tests/cmake/main.c - a program built by CMake with find_package(mmkit):
 * the header's version macros, mm_version() and one anonymous mapping.
 * Prints "PASS: name" / "FAIL: name: why" per check; exits non-zero if any
 * failed. Portable C99 (it is also the Windows test's program).
 */
#include <mmkit.h>
#include <stdio.h>
#include <string.h>

#include "../c/check.h"

/* The use the macros are for: code chosen by version in the preprocessor. */
#if !defined(MMKIT_VERSION_NUM) || MMKIT_VERSION_NUM < 0x000100
#error "mmkit.h has no MMKIT_VERSION_NUM of 0.1.0 or later"
#endif

int main(void)
{
    char header[64];
    snprintf(header, sizeof header, "%d.%d.%d", MMKIT_VERSION_MAJOR, MMKIT_VERSION_MINOR, MMKIT_VERSION_PATCH);
    check(strcmp(header, MMKIT_PACKAGE_VERSION) == 0, "the header's MMKIT_VERSION_* are the CMake package's version",
          header);
    check(strcmp(mm_version(), header) == 0, "mm_version() is the header's MMKIT_VERSION_MAJOR.MINOR.PATCH",
          mm_version());
    check(MMKIT_VERSION_NUM == ((MMKIT_VERSION_MAJOR << 16) | (MMKIT_VERSION_MINOR << 8) | MMKIT_VERSION_PATCH),
          "MMKIT_VERSION_NUM is (MAJOR << 16) | (MINOR << 8) | PATCH", "");

    mm_region *r = NULL;
    int rc = mm_map_anon(3 * mm_page_size() + 1, MM_READ | MM_WRITE | MM_PRIVATE, &r);
    check(rc == 0 && r != NULL, "mm_map_anon", mm_last_error());
    if (rc == 0) {
        unsigned char *p = mm_ptr(r);
        size_t n = mm_len(r);
        check(n == 3 * mm_page_size() + 1, "mm_len is the length asked", "");
        p[0] = 1;
        p[n - 1] = 2;
        check(p[0] == 1 && p[n - 1] == 2 && p[n / 2] == 0, "the region is zero-filled and writable", "");
        check(mm_unmap(r) == 0, "mm_unmap", mm_last_error());
    }
    return failures != 0;
}
