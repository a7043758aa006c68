/*
 * share_unrelated_win.c - share_unrelated's Windows form: anonymous memory
 * shared with another program, by HANDLE (Windows only; make test-windows
 * builds it with MinGW and runs it under Wine).
 *
 * On Unix, share_unrelated.c passes a shareable region's descriptor over a
 * Unix socket. On Windows the region keeps the HANDLE of an unnamed section
 * backed by the paging file (nothing in any namespace), and the way to give
 * it to another process is a duplicate of that handle:
 *
 *   1. The parent makes the region with mm_map_shareable(), writes a greeting
 *      (mm_write) and asks for its section (mm_handle). That handle is not
 *      inheritable: a child started now would not get it.
 *   2. It duplicates the handle as inheritable (DuplicateHandle) and starts
 *      this very program again, `share_unrelated_win --peer HANDLE`, with
 *      CreateProcess(bInheritHandles TRUE): a new program image that shares
 *      no memory with the parent, only the inherited handle.
 *   3. The peer maps it with mm_map_handle(h, 0, 0, MM_READ|MM_WRITE|
 *      MM_SHARED, &r), reads the greeting (mm_read), writes a reply
 *      (mm_write) and exits.
 *   4. The parent reads the reply from its own mapping.
 *
 *     > share_unrelated_win
 *     parent: section handle 0x..., the peer inherits a duplicate
 *     peer: mapped 4096 bytes by handle
 *     peer: read "hello from the parent"
 *     parent: the peer wrote "hello back from another program"
 *
 * A truly unrelated process, one the parent does not start, gets the handle
 * with DuplicateHandle into its process handle instead; the rest is the same.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include <mmkit.h>

static const char greeting[] = "hello from the parent";
static const char reply[] = "hello back from another program";

static int fail(const char *who, const char *what)
{
    fprintf(stderr, "share_unrelated_win: %s: %s: %s\n", who, what, mm_last_error());
    return 1;
}

static int peer(const char *arg)
{
    void *h = (void *)(uintptr_t)_strtoui64(arg, NULL, 16);
    mm_region *r;
    char buf[sizeof greeting];

    if (mm_map_handle(h, 0, 0, MM_READ | MM_WRITE | MM_SHARED, &r) < 0)
        return fail("peer", "mm_map_handle");
    printf("peer: mapped %zu bytes by handle\n", mm_len(r));
    if (mm_read(r, 0, buf, sizeof buf) < 0)
        return fail("peer", "mm_read");
    printf("peer: read \"%s\"\n", buf);
    if (mm_write(r, 100, reply, sizeof reply) < 0)
        return fail("peer", "mm_write");
    mm_unmap(r);
    CloseHandle(h);
    return 0;
}

int main(int argc, char *argv[])
{
    mm_region *r;
    void *h, *dup;
    char exe[MAX_PATH], cmd[MAX_PATH + 64], buf[sizeof reply];
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    DWORD code = 1;

    if (argc == 3 && strcmp(argv[1], "--peer") == 0)
        return peer(argv[2]);
    if (argc != 1) {
        fprintf(stderr, "usage: share_unrelated_win\n");
        return 2;
    }
    if (mm_map_shareable("share_unrelated", 4096, MM_READ | MM_WRITE | MM_SHARED, &r) < 0)
        return fail("parent", "mm_map_shareable");
    if (mm_write(r, 0, greeting, sizeof greeting) < 0)
        return fail("parent", "mm_write");
    if (mm_handle(r, &h) < 0)
        return fail("parent", "mm_handle");
    if (!DuplicateHandle(GetCurrentProcess(), h, GetCurrentProcess(), &dup, 0, TRUE, DUPLICATE_SAME_ACCESS)) {
        fprintf(stderr, "share_unrelated_win: DuplicateHandle: error %lu\n", GetLastError());
        return 1;
    }
    printf("parent: section handle %p, the peer inherits a duplicate\n", h);
    fflush(stdout);
    GetModuleFileNameA(NULL, exe, sizeof exe);
    snprintf(cmd, sizeof cmd, "\"%s\" --peer %llx", exe, (unsigned long long)(uintptr_t)dup);
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    if (!CreateProcessA(NULL, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi)) {
        fprintf(stderr, "share_unrelated_win: CreateProcess: error %lu\n", GetLastError());
        return 1;
    }
    CloseHandle(dup);
    WaitForSingleObject(pi.hProcess, INFINITE);
    GetExitCodeProcess(pi.hProcess, &code);
    CloseHandle(pi.hProcess);
    CloseHandle(pi.hThread);
    if (code != 0) {
        fprintf(stderr, "share_unrelated_win: the peer failed (exit %lu)\n", code);
        return 1;
    }
    if (mm_read(r, 100, buf, sizeof buf) < 0)
        return fail("parent", "mm_read");
    printf("parent: the peer wrote \"%s\"\n", buf);
    mm_unmap(r);
    return strcmp(buf, reply) == 0 ? 0 : 1;
}
