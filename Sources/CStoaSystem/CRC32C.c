#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include "CStoaSystem.h"

// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of
// iSCSI, ext4 metadata and Kafka's record batches. With SSE 4.2 the CPU
// computes it (8 bytes an instruction); elsewhere a slicing-by-8 table does.

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

__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const void *bytes, size_t count) {
    const uint8_t *p = bytes;
    uint64_t c = ~crc;
    while (count > 0 && ((uintptr_t)p & 7) != 0) {
        c = _mm_crc32_u8((uint32_t)c, *p++);
        count--;
    }
    while (count >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = _mm_crc32_u64(c, word);
        p += 8;
        count -= 8;
    }
    while (count > 0) {
        c = _mm_crc32_u8((uint32_t)c, *p++);
        count--;
    }
    return ~(uint32_t)c;
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
