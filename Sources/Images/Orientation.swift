/// The EXIF Orientation tag (0x0112) of a TIFF-structured EXIF block (optionally prefixed by
/// "Exif\0\0"), read from IFD0 as Pillow's `Image.getexif()` does. Returns nil when the block is
/// malformed or has no single-valued Orientation entry.
public func exifOrientation(_ block: [UInt8]) -> Int? { ifd0Orientation(block).value }

/// Scans IFD0 for the Orientation entry: whether there is one, and its value when it is a single
/// integer.
private func ifd0Orientation(_ block: [UInt8]) -> (found: Bool, value: Int?) {
    var d = block[...]
    if d.starts(with: [0x45, 0x78, 0x69, 0x66, 0, 0]) { d = d.dropFirst(6) }
    let b = Array(d)
    guard b.count >= 8 else { return (false, nil) }
    let little: Bool
    if b[0] == 0x49 && b[1] == 0x49 { little = true } else if b[0] == 0x4D && b[1] == 0x4D { little = false } else { return (false, nil) }
    func u16(_ o: Int) -> Int? {
        guard o >= 0, o + 2 <= b.count else { return nil }
        return little ? Int(b[o]) | Int(b[o + 1]) << 8 : Int(b[o]) << 8 | Int(b[o + 1])
    }
    func u32(_ o: Int) -> Int? {
        guard o >= 0, o + 4 <= b.count else { return nil }
        return little ? (Int(b[o]) | Int(b[o + 1]) << 8 | Int(b[o + 2]) << 16 | Int(b[o + 3]) << 24)
                      : (Int(b[o]) << 24 | Int(b[o + 1]) << 16 | Int(b[o + 2]) << 8 | Int(b[o + 3]))
    }
    guard u16(2) == 42, let ifd = u32(4), let count = u16(ifd) else { return (false, nil) }
    for e in 0..<count {
        let entry = ifd + 2 + 12 * e
        guard let tag = u16(entry), let type = u16(entry + 2), let n = u32(entry + 4) else { return (false, nil) }
        guard tag == 0x0112 else { continue }
        guard n == 1 else { return (true, nil) }
        switch type {
        case 3: return (true, u16(entry + 8))                                    // SHORT
        case 4: return (true, u32(entry + 8))                                    // LONG
        case 1, 7: return (true, entry + 8 < b.count ? Int(b[entry + 8]) : nil)  // BYTE, UNDEFINED
        case 8: return (true, u16(entry + 8).map { Int(Int16(truncatingIfNeeded: $0)) })  // SSHORT
        case 9: return (true, u32(entry + 8).map { Int(Int32(truncatingIfNeeded: $0)) })  // SLONG
        default: return (true, nil)
        }
    }
    return (false, nil)
}

/// The orientation Pillow's `exif_transpose` would act on: the EXIF tag (from the Exif block, or
/// for PNG from a "Raw profile type exif" text chunk), else `tiff:Orientation` in the XMP packet.
/// 1 when there is none.
func orientationFrom(exif: [UInt8]?, rawExifHex: String?, xmp: [UInt8]?) -> Int {
    var block = exif
    if block == nil, let hex = rawExifHex {
        // Pillow: bytes.fromhex("".join(text.split("\n")[3:]))
        let body = hex.split(separator: "\n", omittingEmptySubsequences: false).dropFirst(3).joined()
        block = hexBytes(body)
    }
    if let block {
        let (found, value) = ifd0Orientation(block)
        if found { return value ?? 1 }
    }
    if let xmp, let o = xmpOrientation(xmp) { return o }
    return 1
}

/// The orientation digit of an XMP packet, found as Pillow does (the first match of the regular
/// expression `tiff:Orientation(="|>)([0-9])`); nil when there is none.
public func xmpOrientation(_ xmp: [UInt8]) -> Int? {
    let key = Array("tiff:Orientation".utf8)
    guard xmp.count > key.count + 1 else { return nil }
    var i = 0
    while i + key.count + 1 < xmp.count {
        if xmp[i] == key[0] && Array(xmp[i..<(i + key.count)]) == key {
            var j = i + key.count
            if xmp[j] == UInt8(ascii: "=") && j + 1 < xmp.count && xmp[j + 1] == UInt8(ascii: "\"") {
                j += 2
            } else if xmp[j] == UInt8(ascii: ">") {
                j += 1
            } else {
                i += 1
                continue
            }
            if j < xmp.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(xmp[j]) {
                return Int(xmp[j] - UInt8(ascii: "0"))
            }
        }
        i += 1
    }
    return nil
}

private func hexBytes(_ s: String) -> [UInt8]? {
    var out = [UInt8]()
    var hi: UInt8?
    for c in s.utf8 {
        if c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A { continue }  // fromhex skips whitespace
        let v: UInt8
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): v = c - UInt8(ascii: "A") + 10
        default: return nil
        }
        if let h = hi { out.append(h << 4 | v); hi = nil } else { hi = v }
    }
    return hi == nil ? out : nil
}
