import CZlib

/// gzip through zlib: members that `zcat`, Python's `gzip` and DuckDB read
/// as one stream when written back to back (RFC 1952 allows any number of
/// members; each has its own header, CRC-32 and size).
package enum Gzip {
    /// One complete gzip member holding `input`: a plain 10-byte header (no
    /// name, comment or header CRC), the deflate stream, CRC-32 and size.
    ///
    /// - Parameter level: zlib's compression level, 1 (fast) to 9 (small).
    static func member(_ input: UnsafeBufferPointer<UInt8>, level: Int32 = 6) -> [UInt8] {
        var stream = z_stream()
        // windowBits 15 + 16: a gzip wrapper.
        let status = stoa_deflateInit2(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY)
        precondition(status == Z_OK, "deflateInit2 failed: \(status)")  // only on bad arguments or no memory
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))) + 32)
        let produced = output.withUnsafeMutableBufferPointer { out -> Int in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = uInt(input.count)
            stream.next_out = out.baseAddress
            stream.avail_out = uInt(out.count)
            let result = deflate(&stream, Z_FINISH)
            precondition(result == Z_STREAM_END, "deflate did not finish: \(result)")  // the buffer is deflateBound
            return out.count - Int(stream.avail_out)
        }
        output.removeSubrange(produced...)
        return output
    }

    package static func member(_ input: [UInt8], level: Int32 = 6) -> [UInt8] {
        input.withUnsafeBufferPointer { member($0, level: level) }
    }

    /// Inflates the one member that starts at `offset`, appending its bytes
    /// to `output`; returns the offset just past the member.
    ///
    /// - Throws: `.damaged` naming the member's offset when it is not valid gzip.
    static func inflateMember(
        _ input: UnsafeBufferPointer<UInt8>, at offset: Int, into output: inout [UInt8], path: String
    ) throws(StoaError) -> Int {
        var stream = z_stream()
        guard stoa_inflateInit2(&stream, 15 + 16) == Z_OK else {
            throw StoaError(.io, "inflateInit2 failed", path: path)
        }
        defer { inflateEnd(&stream) }
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress! + offset)
        stream.avail_in = uInt(input.count - offset)
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var status: Int32 = Z_OK
        repeat {
            let produced = chunk.withUnsafeMutableBufferPointer { out -> Int in
                stream.next_out = out.baseAddress
                stream.avail_out = uInt(out.count)
                status = inflate(&stream, Z_NO_FLUSH)
                return out.count - Int(stream.avail_out)
            }
            output.append(contentsOf: chunk[..<produced])
        } while status == Z_OK
        guard status == Z_STREAM_END else {
            let reason = status == Z_BUF_ERROR ? "cut short" : "damaged (zlib status \(status))"
            throw StoaError(.damaged, "gzip member is \(reason)", path: path, offset: offset)
        }
        return input.count - Int(stream.avail_in)
    }

    /// Inflates every member of `input`, appending the bytes to `output`.
    ///
    /// - Throws: `.damaged` naming the offset of the member that is not valid gzip.
    package static func decompress(_ input: UnsafeBufferPointer<UInt8>, into output: inout [UInt8], path: String) throws(StoaError) {
        var offset = 0
        while offset < input.count {
            offset = try inflateMember(input, at: offset, into: &output, path: path)
        }
    }
}
