#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include "CStoaSystem.h"

int64_t stoa_birth_time_micros(int fd) {
    struct statx info;
    if (statx(fd, "", AT_EMPTY_PATH, STATX_BTIME, &info) != 0) return -1;
    if (!(info.stx_mask & STATX_BTIME)) return -1;
    return (int64_t)info.stx_btime.tv_sec * 1000000 + info.stx_btime.tv_nsec / 1000;
}

const void *stoa_memmem(const void *haystack, size_t haystack_length, const void *needle, size_t needle_length) {
    return memmem(haystack, haystack_length, needle, needle_length);
}

const void *stoa_memrchr(const void *bytes, int byte, size_t length) { return memrchr(bytes, byte, length); }

int stoa_stat(const char *path, struct stat *info) { return stat(path, info); }

#include <sys/file.h>
int stoa_flock(int fd, int operation) { return flock(fd, operation); }

#include <stdio.h>
int stoa_rename_noreplace(const char *from, const char *to) {
    return renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);
}
