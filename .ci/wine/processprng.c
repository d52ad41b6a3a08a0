/* A stand-in for bcryptprimitives.dll, which Wine 8.0 lacks: Go 1.24 and
 * later get their random bytes from its ProcessPrng. It asks BCryptGenRandom,
 * which Wine has, for the same bytes. Built by .ci/wine-setup. */
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
