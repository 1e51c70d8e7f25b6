/*
 * bcryptprimitives.dll for Wine 8 only (tests/windows/run.sh puts it beside the test
 * client; it is never shipped). Rust's standard library (1.78 and later) draws its
 * random numbers from ProcessPrng in bcryptprimitives.dll, which every Windows 10 and
 * later has, but Wine 8.0 does not (Wine 9 does): without it the driver DLL does not
 * load (LoadLibrary error 126, "Library bcryptprimitives.dll ... not found" under
 * WINEDEBUG=+module). This stands in with BCryptGenRandom from Wine's bcrypt.dll, the
 * system RNG that ProcessPrng itself draws from on Windows.
 */
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG piece = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (BCryptGenRandom(NULL, data, piece, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0) return FALSE;
        data += piece;
        len -= piece;
    }
    return TRUE;
}
