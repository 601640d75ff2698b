#ifndef STOA_CSYSTEM_H
#define STOA_CSYSTEM_H

// Linux calls that Swift's Glibc module does not import (they need _GNU_SOURCE).

#include <stddef.h>
#include <stdint.h>

/// The birth time of an open file in microseconds, or -1 when the file system does not keep it.
int64_t stoa_birth_time_micros(int fd);

/// memmem(3): the first occurrence of needle in haystack, or NULL.
const void *stoa_memmem(const void *haystack, size_t haystack_length, const void *needle, size_t needle_length);

/// memrchr(3): the last occurrence of byte in the first length bytes, or NULL.
const void *stoa_memrchr(const void *bytes, int byte, size_t length);



/// CRC32C (Castagnoli) of `count` bytes, continuing from `crc` (0 to start):
/// CRC32C("123456789") = 0xE3069283. Uses the CPU's crc32 instruction when
/// it has SSE 4.2, else `stoa_crc32c_portable`.
uint32_t stoa_crc32c(uint32_t crc, const void *bytes, size_t count);
/// The same by table (slicing-by-8), on any CPU.
uint32_t stoa_crc32c_portable(uint32_t crc, const void *bytes, size_t count);
/// 1 when `stoa_crc32c` uses the CPU's instruction.
int stoa_crc32c_is_hardware(void);

struct stat;
/// stat(2) and flock(2), whose names Swift confuses with the structs of the same names.
int stoa_stat(const char *path, struct stat *info);
int stoa_flock(int fd, int operation);

/// rename(2) that fails with EEXIST instead of replacing an existing `to`
/// (renameat2 with RENAME_NOREPLACE; EINVAL where the file system cannot).
int stoa_rename_noreplace(const char *from, const char *to);

/// SHA-256 through OpenSSL's libcrypto, loaded on first use. NULL when it
/// is loaded, else why it could not be.
const char *stoa_sha256_load(void);
/// A new digest; NULL when libcrypto cannot be loaded or fails.
void *stoa_sha256_begin(void);
void stoa_sha256_update(void *context, const void *bytes, size_t count);
/// Writes the digest and frees `context`.
void stoa_sha256_end(void *context, uint8_t digest[32]);
/// Frees a digest not ended.
void stoa_sha256_free(void *context);
/// SHA-256 computed here, without libcrypto: for short inputs.
void stoa_sha256_portable(const void *bytes, size_t count, uint8_t digest[32]);

/// ThreadSanitizer's annotations, for locks it cannot see (``Protected``):
/// `address` stands for the lock; an acquire after taking it, a release
/// before giving it up. Declared weak: outside a `-sanitize=thread` build
/// there is no ThreadSanitizer runtime, the symbols are null and these do
/// nothing but test them.
void __tsan_acquire(void *address) __attribute__((weak));
void __tsan_release(void *address) __attribute__((weak));
static inline void stoa_tsan_acquire(void *address) {
    if (__tsan_acquire) __tsan_acquire(address);
}
static inline void stoa_tsan_release(void *address) {
    if (__tsan_release) __tsan_release(address);
}
#endif
