import CSV
import Foundation
import PromptGateCore

/// Reads a batch: JSONL (one request object a line) or a product CSV (`name, features, color, template` and
/// optional request columns), every row checked before anything is sent, so bad input stops the run with
/// the line and field at fault and nothing half submitted.
public enum BatchInput {
    /// The input formats.
    public enum Format: String, Sendable, CaseIterable {
        /// One JSON request object a line; blank lines are skipped.
        case jsonl
        /// A header row, then one product a row.
        case csv

        /// The format a file name implies (`.csv`, else JSONL).
        public static func of(path: String) -> Format {
            path.lowercased().hasSuffix(".csv") ? .csv : .jsonl
        }
    }

    /// CSV columns: the product fields the prompt is made of, and request fields taken as they are.
    static let productColumns: Set<String> = ["name", "features", "color", "template"]
    static let requestColumns: [String: PromptRequest.Field.Kind] = [
        "id": .string, "preset": .string, "style": .string, "priority": .string, "negative_prompt": .string,
        "seed": .integer(-1...Int(PromptRequest.maxSeed)), "batch_size": .integer(1...8), "steps": .integer(1...10_000),
        "width": .integer(1...65_536), "height": .integer(1...65_536),
    ]

    /// The rows of `data` in `format`.
    /// - Parameters:
    ///   - template: the product template for CSV rows whose `template` cell is empty (or that have no such column).
    /// - Throws: `BatchInputError` naming the line (JSONL) or row (CSV) and the field.
    public static func rows(_ data: Data, format: Format, template: String? = nil) throws(BatchInputError)
        -> [BatchRow]
    {
        // Spreadsheets save CSV (and editors JSONL) with a UTF-8 byte order mark: not part of the first field.
        let data = data.starts(with: [0xEF, 0xBB, 0xBF]) ? data.dropFirst(3) : data
        let rows: [BatchRow]
        switch format {
        case .jsonl: rows = try jsonl(Data(data))
        case .csv: rows = try csv(Data(data), template: template)
        }
        var seen: [String: String] = [:]
        for row in rows {
            if let first = seen[row.id] {
                throw BatchInputError(
                    place: row.origin, field: "id", message: "row id '\(row.id)' was used already (\(first))")
            }
            seen[row.id] = row.origin
        }
        guard !rows.isEmpty else { throw BatchInputError(place: "input", field: nil, message: "holds no rows") }
        return rows
    }

    static func jsonl(_ data: Data) throws(BatchInputError) -> [BatchRow] {
        var rows: [BatchRow] = []
        let decoder = JSONDecoder()
        for (index, line) in data.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            let place = "line \(index + 1)"
            let text = line.last == 0x0D ? line.dropLast() : line
            guard text.contains(where: { $0 != 0x20 && $0 != 0x09 }) else { continue }
            guard case .object(var request)? = try? decoder.decode(JSONValue.self, from: Data(text)) else {
                throw BatchInputError(place: place, field: nil, message: "is not a JSON object")
            }
            guard case .string(let prompt)? = request["prompt"], !prompt.isEmpty else {
                throw BatchInputError(place: place, field: "prompt", message: "is missing or not a non-empty string")
            }
            let id: String
            switch request["id"] {
            case .string(let text)? where !text.isEmpty: id = text
            case .number(let number)? where number.rounded() == number: id = String(Int(number))
            case nil: id = "line-\(index + 1)"
            default:
                throw BatchInputError(place: place, field: "id", message: "must be a non-empty string or an integer")
            }
            request["id"] = .string(id)
            rows.append(BatchRow(id: id, request: request, origin: place))
        }
        return rows
    }

    static func csv(_ data: Data, template defaultTemplate: String?) throws(BatchInputError) -> [BatchRow] {
        let reader: CSVReader
        do {
            reader = try CSVReader(string: String(decoding: data, as: UTF8.self), hasHeaderRow: true, trimFields: true)
        } catch {
            throw BatchInputError(place: "row 1", field: nil, message: "is not a CSV header row (\(error))")
        }
        let header = (reader.headerRow ?? []).map { $0.lowercased() }
        for (index, column) in header.enumerated()
        where !productColumns.contains(column) && requestColumns[column] == nil {
            let known = (productColumns.sorted() + requestColumns.keys.sorted()).joined(separator: ", ")
            throw BatchInputError(
                place: "row 1", field: column.isEmpty ? "column \(index + 1)" : column,
                message: "is not a column submit knows (\(known))")
        }
        guard header.contains("name") else {
            throw BatchInputError(place: "row 1", field: "name", message: "the header needs a 'name' column")
        }
        var rows: [BatchRow] = []
        var number = 1
        while let cells = reader.next() {
            number += 1
            let place = "row \(number)"
            if cells.allSatisfy(\.isEmpty) { continue }
            guard cells.count == header.count else {
                throw BatchInputError(
                    place: place, field: nil, message: "has \(cells.count) fields; the header has \(header.count)")
            }
            var fields: [String: String] = [:]
            for (column, cell) in zip(header, cells) where !cell.isEmpty { fields[column] = cell }
            guard let name = fields["name"] else {
                throw BatchInputError(place: place, field: "name", message: "is empty")
            }
            // "red linen shirt, relaxed fit, mother-of-pearl buttons": color and name, then the features.
            var prompt = [fields["color"], name].compactMap { $0 }.joined(separator: " ")
            if let features = fields["features"] { prompt += ", " + features }
            var request: [String: JSONValue] = ["prompt": .string(prompt)]
            if let template = fields["template"] ?? defaultTemplate { request["template"] = .string(template) }
            for (column, kind) in requestColumns where column != "id" {
                guard let cell = fields[column] else { continue }
                if case .integer(let range) = kind {
                    guard let value = Int(cell), range.contains(value) else {
                        throw BatchInputError(
                            place: place, field: column, message: "must be a whole number, found '\(cell)'")
                    }
                    request[column] = .number(Double(value))
                } else {
                    request[column] = .string(cell)
                }
            }
            let id = fields["id"] ?? "row-\(number)"
            request["id"] = .string(id)
            rows.append(BatchRow(id: id, request: request, origin: place))
        }
        return rows
    }
}

/// Input that cannot be a batch: where (line or row), which field, what is wrong.
public struct BatchInputError: Error, Equatable, CustomStringConvertible {
    /// `line 3` (JSONL) or `row 4` (CSV, the header is row 1).
    public var place: String
    /// The field or column at fault, if one is.
    public var field: String?
    /// What is wrong, as the end of a sentence.
    public var message: String

    /// `line 3: field 'prompt' is missing …`.
    public var description: String {
        "\(place): " + (field.map { "field '\($0)' " } ?? "") + message
    }
}
