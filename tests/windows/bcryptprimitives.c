/*
 * A stand-in for Windows' bcryptprimitives.dll, for Wine prefixes that lack it
 * (Wine 8). Every Rust 1.78+ Windows binary imports ProcessPrng from it (std's
 * random source: HashMap's RandomState); without the DLL the loader refuses
 * the binary before main with status c0000135 (exit code 53), silently under
 * WINEDEBUG=-all. tests/windows/run.sh builds this into the test prefix's
 * system32 only when the prefix has no real one:
 *
 *   x86_64-w64-mingw32-gcc -shared -O2 -Wall -Wextra -Werror \
 *       bcryptprimitives.c -o bcryptprimitives.dll -lbcrypt
 *
 * ProcessPrng is documented to always return TRUE and to fill the whole
 * buffer; it draws from BCryptGenRandom's system-preferred generator, which
 * Wine implements, in chunks of at most ULONG_MAX bytes.
 */
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG n = len > 0xFFFFFFFFu ? 0xFFFFFFFFu : (ULONG)len;
        if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
