/// A coding key for any string: reading objects whose keys are data (node ids, field names to check).
package struct AnyCodingKey: CodingKey {
    package var stringValue: String
    package var intValue: Int? { nil }
    package init(stringValue: String) { self.stringValue = stringValue }
    package init(_ stringValue: String) { self.stringValue = stringValue }
    package init?(intValue: Int) { nil }
}
