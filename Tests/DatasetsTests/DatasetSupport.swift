import Foundation
import Testing
import Datasets

/// Paths of the committed fixtures (`Tests/Goldens/datasets`) and scratch folders.
enum Fixtures {
    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }   // Tests/DatasetsTests/X.swift → root
        return url.path
    }()
    static let root = packageRoot + "/Tests/Goldens/datasets"

    static func path(_ rel: String) -> String { root + "/" + rel }

    /// A fresh, empty scratch folder unique to this process and `name`.
    static func scratch(_ name: String) -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("llm2clip-datasets-\(getpid())-\(name)").path
        try? FileManager.default.removeItem(atPath: d)
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    static func write(_ text: String, to path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    static func write(_ bytes: [UInt8], to path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// Runs a program and returns its standard output; records an issue on failure.
    @discardableResult
    static func run(_ program: String, _ args: [String], in dir: String? = nil) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: program)
        p.arguments = args
        if let dir { p.currentDirectoryURL = URL(fileURLWithPath: dir) }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        if p.terminationStatus != 0 {
            Issue.record("\(program) \(args.joined(separator: " ")) failed (\(p.terminationStatus)): \(String(decoding: e, as: UTF8.self))")
        }
        return String(decoding: o, as: UTF8.self)
    }
}

/// Runs `body`, which must throw a DatasetError; returns it (nil and an issue otherwise).
@discardableResult
func expectDatasetError(sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) -> DatasetError? {
    do {
        try body()
        Issue.record("expected a DatasetError, nothing was thrown", sourceLocation: sourceLocation)
    } catch let e as DatasetError {
        return e
    } catch {
        Issue.record("expected a DatasetError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
    }
    return nil
}
