#ifndef STOA_CCRYPTO_SHIM_H
#define STOA_CCRYPTO_SHIM_H

// SHA-256 from the system's OpenSSL libcrypto (uses the CPU's SHA
// instructions where there are some).
#include <openssl/evp.h>

#endif
