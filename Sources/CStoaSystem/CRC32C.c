#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include "CStoaSystem.h"

// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of
// iSCSI, ext4 metadata and Kafka's record batches. With SSE 4.2 the CPU
// computes it (8 bytes an instruction, three streams at once); elsewhere a
// slicing-by-8 table does.

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void make_table(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t crc = n;
        for (int k = 0; k < 8; k++) crc = crc & 1 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
        table[0][n] = crc;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t crc = table[0][n];
        for (int k = 1; k < 8; k++) {
            crc = table[0][crc & 0xFF] ^ (crc >> 8);
            table[k][n] = crc;
        }
    }
}

uint32_t stoa_crc32c_portable(uint32_t crc, const void *bytes, size_t count) {
    pthread_once(&table_once, make_table);
    const uint8_t *p = bytes;
    crc = ~crc;
    while (count > 0 && ((uintptr_t)p & 7) != 0) {
        crc = table[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
        count--;
    }
    while (count >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        word = __builtin_bswap64(word);
#endif
        word ^= crc;
        crc = table[7][word & 0xFF] ^ table[6][(word >> 8) & 0xFF] ^ table[5][(word >> 16) & 0xFF]
            ^ table[4][(word >> 24) & 0xFF] ^ table[3][(word >> 32) & 0xFF] ^ table[2][(word >> 40) & 0xFF]
            ^ table[1][(word >> 48) & 0xFF] ^ table[0][word >> 56];
        p += 8;
        count -= 8;
    }
    while (count > 0) {
        crc = table[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
        count--;
    }
    return ~crc;
}

#if defined(__x86_64__)
#include <nmmintrin.h>

// Three streams at once: the crc32 instruction takes three cycles but can
// start one a cycle, so a block is cut in three, each part's CRC computed
// side by side, and the parts' CRCs joined by shifting them over the bytes
// after them (multiplying by x^(8n) modulo the polynomial, by table). This
// is Mark Adler's crc32c.c (zlib licence), which Intel's ISA-L and Linux's
// crc32c-intel do likewise.

// A 32×32 matrix over GF(2), each entry a column, times a vector.
static uint32_t gf2_matrix_times(const uint32_t *matrix, uint32_t vector) {
    uint32_t sum = 0;
    while (vector) {
        if (vector & 1) sum ^= *matrix;
        vector >>= 1;
        matrix++;
    }
    return sum;
}

static void gf2_matrix_square(uint32_t *square, const uint32_t *matrix) {
    for (int n = 0; n < 32; n++) square[n] = gf2_matrix_times(matrix, matrix[n]);
}

// The operator that appends `length` zero bytes (a power of two) to a CRC.
static void zeros_operator(uint32_t *even, size_t length) {
    uint32_t odd[32];
    odd[0] = 0x82F63B78u;  // one zero bit
    uint32_t row = 1;
    for (int n = 1; n < 32; n++) {
        odd[n] = row;
        row <<= 1;
    }
    gf2_matrix_square(even, odd);  // two zero bits
    gf2_matrix_square(odd, even);  // four
    // One zero byte in even, then two in odd, and so on down `length`.
    do {
        gf2_matrix_square(even, odd);
        length >>= 1;
        if (length == 0) return;
        gf2_matrix_square(odd, even);
        length >>= 1;
    } while (length);
    for (int n = 0; n < 32; n++) even[n] = odd[n];
}

// The operator as four tables, a byte of the CRC each.
static void zeros_tables(uint32_t zeros[4][256], size_t length) {
    uint32_t op[32];
    zeros_operator(op, length);
    for (uint32_t n = 0; n < 256; n++) {
        zeros[0][n] = gf2_matrix_times(op, n);
        zeros[1][n] = gf2_matrix_times(op, n << 8);
        zeros[2][n] = gf2_matrix_times(op, n << 16);
        zeros[3][n] = gf2_matrix_times(op, n << 24);
    }
}

static uint32_t shift(const uint32_t zeros[4][256], uint32_t crc) {
    return zeros[0][crc & 0xFF] ^ zeros[1][(crc >> 8) & 0xFF] ^ zeros[2][(crc >> 16) & 0xFF] ^ zeros[3][crc >> 24];
}

#define LONG_PART 8192
#define SHORT_PART 256
static uint32_t long_zeros[4][256];
static uint32_t short_zeros[4][256];
static pthread_once_t zeros_once = PTHREAD_ONCE_INIT;

static void make_zeros(void) {
    zeros_tables(long_zeros, LONG_PART);
    zeros_tables(short_zeros, SHORT_PART);
}

static inline uint64_t load64(const uint8_t *p) {
    uint64_t word;
    memcpy(&word, p, 8);
    return word;
}

__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const void *bytes, size_t count) {
    pthread_once(&zeros_once, make_zeros);
    const uint8_t *p = bytes;
    uint64_t c0 = ~crc;
    while (count > 0 && ((uintptr_t)p & 7) != 0) {
        c0 = _mm_crc32_u8((uint32_t)c0, *p++);
        count--;
    }
    while (count >= 3 * LONG_PART) {
        uint64_t c1 = 0, c2 = 0;
        const uint8_t *end = p + LONG_PART;
        do {
            c0 = _mm_crc32_u64(c0, load64(p));
            c1 = _mm_crc32_u64(c1, load64(p + LONG_PART));
            c2 = _mm_crc32_u64(c2, load64(p + 2 * LONG_PART));
            p += 8;
        } while (p < end);
        c0 = shift(long_zeros, (uint32_t)c0) ^ c1;
        c0 = shift(long_zeros, (uint32_t)c0) ^ c2;
        p += 2 * LONG_PART;
        count -= 3 * LONG_PART;
    }
    while (count >= 3 * SHORT_PART) {
        uint64_t c1 = 0, c2 = 0;
        const uint8_t *end = p + SHORT_PART;
        do {
            c0 = _mm_crc32_u64(c0, load64(p));
            c1 = _mm_crc32_u64(c1, load64(p + SHORT_PART));
            c2 = _mm_crc32_u64(c2, load64(p + 2 * SHORT_PART));
            p += 8;
        } while (p < end);
        c0 = shift(short_zeros, (uint32_t)c0) ^ c1;
        c0 = shift(short_zeros, (uint32_t)c0) ^ c2;
        p += 2 * SHORT_PART;
        count -= 3 * SHORT_PART;
    }
    while (count >= 8) {
        c0 = _mm_crc32_u64(c0, load64(p));
        p += 8;
        count -= 8;
    }
    while (count > 0) {
        c0 = _mm_crc32_u8((uint32_t)c0, *p++);
        count--;
    }
    return ~(uint32_t)c0;
}

// -1 until first asked; threads that ask at once all store the same answer.
static int has_sse42 = -1;

int stoa_crc32c_is_hardware(void) {
    int known = __atomic_load_n(&has_sse42, __ATOMIC_RELAXED);
    if (__builtin_expect(known < 0, 0)) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("sse4.2") ? 1 : 0;
        __atomic_store_n(&has_sse42, known, __ATOMIC_RELAXED);
    }
    return known;
}

uint32_t stoa_crc32c(uint32_t crc, const void *bytes, size_t count) {
    return stoa_crc32c_is_hardware() ? crc32c_sse42(crc, bytes, count) : stoa_crc32c_portable(crc, bytes, count);
}
#else
uint32_t stoa_crc32c(uint32_t crc, const void *bytes, size_t count) { return stoa_crc32c_portable(crc, bytes, count); }

int stoa_crc32c_is_hardware(void) { return 0; }
#endif
