import Foundation
import Testing
import Datasets

/// Builds a folder of files, archives it with /usr/bin/tar in several formats and checks that
/// the reader lists the same members with the same bytes.
@Suite struct TarTests {
    static let longBase = String(repeating: "L", count: 150) + ".txt"
    static let deepPath = "deep/" + String(repeating: "d", count: 60) + "/" + String(repeating: "e", count: 60) + "/"
        + String(repeating: "f", count: 60) + "/file.txt"

    /// The tree to archive: name → contents (directories are implied).
    static func tree(includeLongBaseName: Bool) -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [
            "hello.txt": Array("hello\n".utf8),
            "empty.bin": [],
            "block.bin": (0..<512).map { UInt8($0 % 251) },
            "big.bin": (0..<5000).map { UInt8(($0 * 37 + 11) % 256) },
            "sub/dir/nested.txt": Array("nested".utf8),
            "ünïcødé.txt": Array("utf-8 name".utf8),
            deepPath: Array("a path longer than 100 bytes, split into ustar prefix and name".utf8),
        ]
        if includeLongBaseName { files[longBase] = Array("a GNU long name".utf8) }
        return files
    }

    /// Writes the tree (plus a symlink `link` → `hello.txt`) and archives it; returns the archive path.
    /// `tag` keeps the folders of tests running in parallel apart.
    static func archive(format: String, includeLongBaseName: Bool, tag: String = #function) throws -> (tar: String, dir: String) {
        let dir = Fixtures.scratch("tar-\(format)-\(tag.filter { $0.isLetter })")
        let src = dir + "/src"
        for (name, bytes) in tree(includeLongBaseName: includeLongBaseName) {
            try Fixtures.write(bytes, to: src + "/" + name)
        }
        try FileManager.default.createSymbolicLink(atPath: src + "/link", withDestinationPath: "hello.txt")
        let top = try FileManager.default.contentsOfDirectory(atPath: src).sorted()
        let tar = dir + "/out.tar"
        try Fixtures.run("/usr/bin/tar", ["--format=\(format)", "--sort=name", "-cf", tar, "-C", src] + top)
        return (tar, src)
    }

    @Test(arguments: ["gnu", "ustar", "pax", "oldgnu"])
    func readerMatchesSystemTar(format: String) throws {
        let withLong = format != "ustar"   // ustar cannot store a 150-byte file name
        let (tarPath, src) = try TarTests.archive(format: format, includeLongBaseName: withLong)
        let archive = try TarArchive(path: tarPath)
        // Same member names, in the same order, as `tar -tf`.
        let listed = try Fixtures.run("/usr/bin/tar", ["--quoting-style=literal", "-tf", tarPath])
            .split(separator: "\n").map(String.init)
        #expect(archive.entries.map(\.name) == listed)
        // Every file with its exact bytes.
        let expected = TarTests.tree(includeLongBaseName: withLong)
        let files = archive.entries.filter { $0.kind == .file }
        #expect(Set(files.map(\.name)) == Set(expected.keys))
        for e in files {
            #expect([UInt8](archive.contents(of: e)) == expected[e.name], "\(format): \(e.name)")
            #expect(e.size == expected[e.name]?.count)
            let onDisk = FileManager.default.contents(atPath: src + "/" + e.name).map { [UInt8]($0) }
            #expect(onDisk == expected[e.name])
        }
        let link = archive.entries.first { $0.name == "link" }
        #expect(link?.kind == .symbolicLink)
        #expect(link?.linkName == "hello.txt")
        #expect(archive.entries.contains { $0.name.hasPrefix("sub/dir") && $0.kind == .directory })
        #expect(archive.entry(named: "hello.txt").map { archive.contents(of: $0) } == Data("hello\n".utf8))
        if withLong {
            #expect(archive.entry(named: TarTests.longBase) != nil)
        }
    }

    @Test func truncatedArchiveIsReported() throws {
        let (tarPath, _) = try TarTests.archive(format: "gnu", includeLongBaseName: true)
        let full = try Data(contentsOf: URL(fileURLWithPath: tarPath))
        let archive = try TarArchive(data: full, name: "full.tar")
        let big = try #require(archive.entry(named: "big.bin"))
        let cut = full.prefix(big.dataOffset + 1000)
        let e = expectDatasetError { _ = try TarArchive(data: Data(cut), name: "cut.tar") }
        #expect(e?.file == "cut.tar")
        #expect(e?.offset == big.headerOffset)
        #expect(e?.description.contains("truncated") == true)
        // Cut inside a header.
        let e2 = expectDatasetError { _ = try TarArchive(data: Data(full.prefix(big.headerOffset + 100)), name: "cut2.tar") }
        #expect(e2?.offset == big.headerOffset)
        #expect(e2?.description.contains("ends inside a header") == true)
    }

    @Test func damagedHeaderIsReported() throws {
        let (tarPath, _) = try TarTests.archive(format: "gnu", includeLongBaseName: false)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: tarPath)))
        let archive = try TarArchive(data: Data(bytes), name: "ok.tar")
        let hello = try #require(archive.entry(named: "hello.txt"))
        bytes[hello.headerOffset + 3] ^= 0x20
        let e = expectDatasetError { _ = try TarArchive(data: Data(bytes), name: "bad.tar") }
        #expect(e?.offset == hello.headerOffset)
        #expect(e?.description.contains("checksum") == true)
        // Not a tar at all.
        let junk = expectDatasetError { _ = try TarArchive(data: Data(repeating: 0x41, count: 1024), name: "junk.tar") }
        #expect(junk?.offset == 0)
        #expect(junk?.description.contains("re-create or re-download") == true)
        #expect(expectDatasetError { _ = try TarArchive(path: "/nonexistent.tar") }?.file == "/nonexistent.tar")
    }

    /// A hand-made ustar header (for encodings system tar only writes for huge members).
    static func header(name: String, size: [UInt8], type: UInt8 = UInt8(ascii: "0")) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 512)
        for (i, c) in name.utf8.enumerated() { h[i] = c }
        for (i, c) in "0000644\0".utf8.enumerated() { h[100 + i] = c }
        for (i, c) in size.enumerated() { h[124 + i] = c }
        for (i, c) in "00000000000\0".utf8.enumerated() { h[136 + i] = c }
        h[156] = type
        for (i, c) in "ustar\u{0}00".utf8.enumerated() { h[257 + i] = c }
        for i in 148..<156 { h[i] = 0x20 }
        let sum = h.reduce(0) { $0 + Int($1) }
        for (i, c) in String(format: "%06o\0 ", sum).utf8.enumerated() { h[148 + i] = c }
        return h
    }

    @Test func base256SizesAndNoEndMarker() throws {
        // Size 5 written in GNU base-256 form; no end-of-archive blocks.
        var size = [UInt8](repeating: 0, count: 12)
        size[0] = 0x80
        size[11] = 5
        var bytes = TarTests.header(name: "five.bin", size: size)
        bytes += [1, 2, 3, 4, 5] + [UInt8](repeating: 0, count: 507)
        let a = try TarArchive(data: Data(bytes), name: "b256.tar")
        #expect(a.entries.map(\.name) == ["five.bin"])
        #expect([UInt8](a.contents(of: a.entries[0])) == [1, 2, 3, 4, 5])
        // A size that is not octal.
        let bad = TarTests.header(name: "x", size: Array("12345678901\0".utf8).map { $0 == UInt8(ascii: "9") ? UInt8(ascii: "z") : $0 })
        let e = expectDatasetError { _ = try TarArchive(data: Data(bad + [UInt8](repeating: 0, count: 1024)), name: "bad.tar") }
        #expect(e?.description.contains("not an octal number") == true)
    }

    @Test func paxRecordsOverrideTheHeader() throws {
        // A pax header carrying a long path and a size, before a ustar header with a short name.
        let path = "pax/" + String(repeating: "p", count: 120) + ".txt"
        var record = " path=\(path)\n"
        var length = record.utf8.count + 1
        while String(length).utf8.count + record.utf8.count != length { length += 1 }
        record = String(length) + record
        let body = Array(record.utf8)
        let sizeField = Array(String(format: "%011o\0", body.count).utf8)
        var bytes = TarTests.header(name: "PaxHeaders/x", size: sizeField, type: UInt8(ascii: "x"))
        bytes += body + [UInt8](repeating: 0, count: (512 - body.count % 512) % 512)
        bytes += TarTests.header(name: "short.txt", size: Array(String(format: "%011o\0", 3).utf8))
        bytes += Array("abc".utf8) + [UInt8](repeating: 0, count: 509) + [UInt8](repeating: 0, count: 1024)
        let a = try TarArchive(data: Data(bytes), name: "pax.tar")
        #expect(a.entries.map(\.name) == [path])
        #expect(a.entries.first.map { [UInt8](a.contents(of: $0)) } == Array("abc".utf8))
    }
}
