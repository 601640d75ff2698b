#ifndef STOA_CZLIB_SHIM_H
#define STOA_CZLIB_SHIM_H

#include <zlib.h>

// deflateInit2 and inflateInit2 are macros, which Swift cannot call: wrap them.

static inline int stoa_deflateInit2(z_streamp stream, int level, int method,
                                    int windowBits, int memLevel, int strategy) {
    return deflateInit2(stream, level, method, windowBits, memLevel, strategy);
}

static inline int stoa_inflateInit2(z_streamp stream, int windowBits) {
    return inflateInit2(stream, windowBits);
}

#endif
