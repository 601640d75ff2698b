#ifndef STOA_BENCH_CSQLITE_SHIM_H
#define STOA_BENCH_CSQLITE_SHIM_H

// SQLite's C API and zlib, for the query benchmark's SQLite event store
// (Debian: libsqlite3-dev, zlib1g-dev); and binding to one CPU, which
// Glibc's Swift module does not show (it needs _GNU_SOURCE).

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <sqlite3.h>
#include <zlib.h>
#include <stdlib.h>
#include <string.h>

// zlib's init functions are macros, which Swift cannot call; and a payload
// compressor reuses one stream (deflateReset) rather than allocating a new
// one per payload, as a careful compiled application would.

/// A gzip (RFC 1952) compressor, default level; NULL on failure.
static inline void *bench_deflater_new(void) {
    z_stream *stream = (z_stream *)calloc(1, sizeof(z_stream));
    if (stream == NULL) return NULL;
    if (deflateInit2(stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(stream);
        return NULL;
    }
    return stream;
}

/// Compresses `length` bytes into `output` (room for `capacity`): the
/// compressed size, or -1 when it does not fit or fails.
static inline long bench_gzip(void *deflater, const void *input, size_t length, void *output, size_t capacity) {
    z_stream *stream = (z_stream *)deflater;
    if (deflateReset(stream) != Z_OK) return -1;
    stream->next_in = (Bytef *)input;
    stream->avail_in = (uInt)length;
    stream->next_out = (Bytef *)output;
    stream->avail_out = (uInt)capacity;
    if (deflate(stream, Z_FINISH) != Z_STREAM_END) return -1;
    return (long)stream->total_out;
}

static inline void bench_deflater_free(void *deflater) {
    if (deflater == NULL) return;
    deflateEnd((z_stream *)deflater);
    free(deflater);
}

/// A gzip decompressor; NULL on failure.
static inline void *bench_inflater_new(void) {
    z_stream *stream = (z_stream *)calloc(1, sizeof(z_stream));
    if (stream == NULL) return NULL;
    if (inflateInit2(stream, 15 + 16) != Z_OK) {
        free(stream);
        return NULL;
    }
    return stream;
}

/// Decompresses one gzip member into `output`: the size, or -1.
static inline long bench_gunzip(void *inflater, const void *input, size_t length, void *output, size_t capacity) {
    z_stream *stream = (z_stream *)inflater;
    if (inflateReset(stream) != Z_OK) return -1;
    stream->next_in = (Bytef *)input;
    stream->avail_in = (uInt)length;
    stream->next_out = (Bytef *)output;
    stream->avail_out = (uInt)capacity;
    if (inflate(stream, Z_FINISH) != Z_STREAM_END) return -1;
    return (long)stream->total_out;
}

static inline void bench_inflater_free(void *inflater) {
    if (inflater == NULL) return;
    inflateEnd((z_stream *)inflater);
    free(inflater);
}

/// SQLITE_TRANSIENT is a macro cast Swift cannot import.
static inline int bench_bind_text_transient(sqlite3_stmt *statement, int index, const char *text, int length) {
    return sqlite3_bind_text(statement, index, text, length, SQLITE_TRANSIENT);
}

/// Binds the calling process to CPU `cpu`: 0, or -1 with errno.
static inline int bench_bind_to_cpu(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set);
}

#endif
