#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "CStoaSystem.h"

// SHA-256. Long inputs (segments, records on the dedup path) go to OpenSSL's
// libcrypto, which uses the CPU's SHA instructions; it is loaded when first
// needed, not when the program starts: loading it costs every process about
// half a millisecond, a short `stoa query` more than it hashes. Short inputs
// (a line, a name) are hashed here, by FIPS 180-4 as written.

// libcrypto's EVP interface, declared here so that building needs no headers.
typedef struct stoa_evp_md_ctx stoa_evp_md_ctx;
typedef struct stoa_evp_md stoa_evp_md;

static struct {
    stoa_evp_md_ctx *(*ctx_new)(void);
    void (*ctx_free)(stoa_evp_md_ctx *);
    const stoa_evp_md *(*sha256)(void);
    int (*init)(stoa_evp_md_ctx *, const stoa_evp_md *, void *);
    int (*update)(stoa_evp_md_ctx *, const void *, size_t);
    int (*final)(stoa_evp_md_ctx *, unsigned char *, unsigned int *);
} crypto;
static const char *crypto_error;
static char crypto_error_text[256];
static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;

static void load_crypto(void) {
    void *library = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) library = dlopen("libcrypto.so", RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        const char *error = dlerror();
        snprintf(crypto_error_text, sizeof crypto_error_text, "%s", error ? error : "libcrypto.so.3 not found");
        crypto_error = crypto_error_text;
        return;
    }
    *(void **)&crypto.ctx_new = dlsym(library, "EVP_MD_CTX_new");
    *(void **)&crypto.ctx_free = dlsym(library, "EVP_MD_CTX_free");
    *(void **)&crypto.sha256 = dlsym(library, "EVP_sha256");
    *(void **)&crypto.init = dlsym(library, "EVP_DigestInit_ex");
    *(void **)&crypto.update = dlsym(library, "EVP_DigestUpdate");
    *(void **)&crypto.final = dlsym(library, "EVP_DigestFinal_ex");
    if (!crypto.ctx_new || !crypto.ctx_free || !crypto.sha256 || !crypto.init || !crypto.update || !crypto.final) {
        crypto_error = "libcrypto lacks the EVP digest functions (OpenSSL 1.1 or later is needed)";
    }
}

const char *stoa_sha256_load(void) {
    pthread_once(&crypto_once, load_crypto);
    return crypto_error;
}

void *stoa_sha256_begin(void) {
    if (stoa_sha256_load() != NULL) return NULL;
    stoa_evp_md_ctx *context = crypto.ctx_new();
    if (context == NULL) return NULL;
    if (crypto.init(context, crypto.sha256(), NULL) != 1) {
        crypto.ctx_free(context);
        return NULL;
    }
    return context;
}

void stoa_sha256_update(void *context, const void *bytes, size_t count) {
    if (count > 0) crypto.update(context, bytes, count);
}

void stoa_sha256_end(void *context, uint8_t digest[32]) {
    unsigned int length = 0;
    crypto.final(context, digest, &length);
    crypto.ctx_free(context);
}

void stoa_sha256_free(void *context) { crypto.ctx_free(context); }

// Short inputs, here.

static const uint32_t k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void compress(uint32_t state[8], const uint8_t block[64]) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++) {
        w[i] = (uint32_t)block[4 * i] << 24 | (uint32_t)block[4 * i + 1] << 16 | (uint32_t)block[4 * i + 2] << 8
            | (uint32_t)block[4 * i + 3];
    }
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
        uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    state[0] += a; state[1] += b; state[2] += c; state[3] += d;
    state[4] += e; state[5] += f; state[6] += g; state[7] += h;
}

void stoa_sha256_portable(const void *bytes, size_t count, uint8_t digest[32]) {
    uint32_t state[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    const uint8_t *p = bytes;
    size_t left = count;
    while (left >= 64) {
        compress(state, p);
        p += 64;
        left -= 64;
    }
    // The rest, 0x80, zeros, and the length in bits (big-endian) in one or two blocks.
    uint8_t tail[128] = {0};
    if (left > 0) memcpy(tail, p, left);
    tail[left] = 0x80;
    size_t blocks = left + 1 + 8 <= 64 ? 1 : 2;
    uint64_t bits = (uint64_t)count * 8;
    for (int i = 0; i < 8; i++) tail[blocks * 64 - 1 - i] = (uint8_t)(bits >> (8 * i));
    compress(state, tail);
    if (blocks == 2) compress(state, tail + 64);
    for (int i = 0; i < 8; i++) {
        digest[4 * i] = (uint8_t)(state[i] >> 24);
        digest[4 * i + 1] = (uint8_t)(state[i] >> 16);
        digest[4 * i + 2] = (uint8_t)(state[i] >> 8);
        digest[4 * i + 3] = (uint8_t)state[i];
    }
}
