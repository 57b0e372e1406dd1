import Foundation
import PGBackupFoundations

/// An element of one of S3's XML answers: name (namespace prefix dropped), children, text.
///
/// S3's answers are small, flat documents (listings, errors, upload ids); this tolerant reader
/// covers what they use — elements, attributes (skipped), character and entity references,
/// CDATA, comments, the declaration — so the driver does not need libxml2 (FoundationXML) at run
/// time, which the slim runtime image does not ship.
struct S3XMLElement: Sendable {
    var name: String
    var children: [S3XMLElement] = []
    var text = ""

    func child(_ name: String) -> S3XMLElement? { children.first { $0.name == name } }
    func children(_ name: String) -> [S3XMLElement] { children.filter { $0.name == name } }
    /// The text of the first child called `name`.
    func value(_ name: String) -> String? { child(name)?.text }

    /// How deep elements may nest. S3's answers nest four levels at most; a deeper document is
    /// refused, because releasing a very deep tree (100,000 levels) overflows the stack.
    static let maximumDepth = 64

    /// Parses a whole document; nil when it is not well-formed enough to trust, or nested deeper
    /// than `maximumDepth`.
    static func parse(_ bytes: [UInt8]) -> S3XMLElement? {
        var parser = Parser(bytes: bytes)
        return parser.document()
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0
        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func document() -> S3XMLElement? {
            var stack: [S3XMLElement] = []
            var root: S3XMLElement?
            var text: [UInt8] = []
            func flushText(into stack: inout [S3XMLElement], _ text: inout [UInt8]) {
                if !stack.isEmpty, !text.isEmpty { stack[stack.count - 1].text += Self.decodeEntities(text) }
                text.removeAll(keepingCapacity: true)
            }
            while index < bytes.count {
                if bytes[index] != UInt8(ascii: "<") {
                    text.append(bytes[index])
                    index += 1
                    continue
                }
                if starts(with: "<![CDATA[") {
                    guard let end = find("]]>", from: index + 9) else { return nil }
                    if !stack.isEmpty { stack[stack.count - 1].text += String(decoding: bytes[(index + 9)..<end], as: UTF8.self) }
                    index = end + 3
                } else if starts(with: "<!--") {
                    guard let end = find("-->", from: index + 4) else { return nil }
                    index = end + 3
                } else if starts(with: "<?") || starts(with: "<!") {
                    guard let end = find(">", from: index) else { return nil }
                    index = end + 1
                } else if starts(with: "</") {
                    flushText(into: &stack, &text)
                    guard let end = find(">", from: index), var closed = stack.popLast() else { return nil }
                    let name = Self.localName(bytes[(index + 2)..<end])
                    guard name == closed.name else { return nil }
                    if closed.children.isEmpty == false { closed.text = closed.text.trimmingCharacters(in: .whitespacesAndNewlines) }
                    index = end + 1
                    if stack.isEmpty { root = closed } else { stack[stack.count - 1].children.append(closed) }
                } else {
                    flushText(into: &stack, &text)
                    guard let end = find(">", from: index) else { return nil }
                    let selfClosing = bytes[end - 1] == UInt8(ascii: "/")
                    let inside = bytes[(index + 1)..<(selfClosing ? end - 1 : end)]
                    let nameBytes = inside.prefix { ![UInt8(ascii: " "), 9, 10, 13].contains($0) }
                    let element = S3XMLElement(name: Self.localName(nameBytes))
                    index = end + 1
                    if selfClosing {
                        if stack.isEmpty { root = element } else { stack[stack.count - 1].children.append(element) }
                    } else {
                        guard stack.count < S3XMLElement.maximumDepth else { return nil }
                        stack.append(element)
                    }
                }
            }
            return stack.isEmpty ? root : nil
        }

        func starts(with literal: String) -> Bool {
            let utf8 = Array(literal.utf8)
            return index + utf8.count <= bytes.count && Array(bytes[index..<(index + utf8.count)]) == utf8
        }

        func find(_ literal: String, from start: Int) -> Int? {
            let utf8 = Array(literal.utf8)
            var position = start
            while position + utf8.count <= bytes.count {
                if bytes[position] == utf8[0] && Array(bytes[position..<(position + utf8.count)]) == utf8 { return position }
                position += 1
            }
            return nil
        }

        static func localName(_ bytes: ArraySlice<UInt8>) -> String {
            let name = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespaces)
            return name.split(separator: ":").last.map(String.init) ?? name
        }

        static func decodeEntities(_ bytes: [UInt8]) -> String {
            let text = String(decoding: bytes, as: UTF8.self)
            guard text.contains("&") else { return text }
            var result = ""
            var rest = Substring(text)
            while let ampersand = rest.firstIndex(of: "&") {
                result += rest[..<ampersand]
                guard let semicolon = rest[ampersand...].firstIndex(of: ";") else { break }
                let entity = rest[rest.index(after: ampersand)..<semicolon]
                switch entity {
                case "amp": result += "&"
                case "lt": result += "<"
                case "gt": result += ">"
                case "quot": result += "\""
                case "apos": result += "'"
                default:
                    let number = entity.hasPrefix("#x") ? UInt32(entity.dropFirst(2), radix: 16)
                        : entity.hasPrefix("#") ? UInt32(entity.dropFirst(), radix: 10) : nil
                    if let number, let scalar = Unicode.Scalar(number) {
                        result.unicodeScalars.append(scalar)
                    } else {
                        result += rest[ampersand...semicolon]
                    }
                }
                rest = rest[rest.index(after: semicolon)...]
            }
            return result + rest
        }
    }

    /// `text` escaped for element content.
    static func escape(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&apos;"
            default: result.append(character)
            }
        }
        return result
    }
}

/// The S3 answers the driver reads.
enum S3XML {
    /// One page of ListObjectsV2.
    struct ListPage {
        var objects: [(key: String, size: Int64, modified: Date)]
        var nextContinuationToken: String?
    }

    static func listPage(_ bytes: [UInt8]) -> ListPage? {
        guard let root = S3XMLElement.parse(bytes), root.name == "ListBucketResult" else { return nil }
        var objects: [(key: String, size: Int64, modified: Date)] = []
        for entry in root.children("Contents") {
            // A date that does not parse is a malformed answer, never a made-up time: callers
            // judge an object's age by it (an incomplete backup's last activity).
            guard let key = entry.value("Key"), let size = entry.value("Size").flatMap({ Int64($0) }),
                  let modified = entry.value("LastModified").flatMap(S3Dates.parseISO8601) else { return nil }
            objects.append((key, size, modified))
        }
        let truncated = root.value("IsTruncated") == "true"
        let token = root.value("NextContinuationToken")
        if truncated && (token == nil || token!.isEmpty) { return nil }
        return ListPage(objects: objects, nextContinuationToken: truncated ? token : nil)
    }

    /// The keys DeleteObjects could not delete, with S3's code and message.
    static func deleteErrors(_ bytes: [UInt8]) -> [(key: String, code: String, message: String)]? {
        guard let root = S3XMLElement.parse(bytes), root.name == "DeleteResult" else { return nil }
        return root.children("Error").map { ($0.value("Key") ?? "?", $0.value("Code") ?? "?", $0.value("Message") ?? "") }
    }

    static func uploadID(_ bytes: [UInt8]) -> String? {
        guard let root = S3XMLElement.parse(bytes), root.name == "InitiateMultipartUploadResult",
              let id = root.value("UploadId"), !id.isEmpty else { return nil }
        return id
    }

    /// One page of ListMultipartUploads.
    struct UploadsPage {
        var uploads: [S3PendingUpload]
        var nextKeyMarker: String?
        var nextUploadIDMarker: String?
    }

    static func uploadsPage(_ bytes: [UInt8]) -> UploadsPage? {
        guard let root = S3XMLElement.parse(bytes), root.name == "ListMultipartUploadsResult" else { return nil }
        // An upload whose start time does not parse is left out: its age is unknown, and an
        // abandoned-upload sweep must never take a live one for old.
        let uploads = root.children("Upload").compactMap { upload -> S3PendingUpload? in
            guard let key = upload.value("Key"), let id = upload.value("UploadId"),
                  let initiated = upload.value("Initiated").flatMap(S3Dates.parseISO8601) else { return nil }
            return S3PendingUpload(key: key, uploadID: id, initiated: initiated)
        }
        let truncated = root.value("IsTruncated") == "true"
        return UploadsPage(uploads: uploads, nextKeyMarker: truncated ? root.value("NextKeyMarker") : nil,
                           nextUploadIDMarker: truncated ? root.value("NextUploadIdMarker") : nil)
    }

    /// S3's `<Error>` document: code, message, request id.
    static func error(_ bytes: [UInt8]) -> (code: String?, message: String?, requestID: String?)? {
        guard let root = S3XMLElement.parse(bytes), root.name == "Error" else { return nil }
        return (root.value("Code"), root.value("Message"), root.value("RequestId"))
    }

    static func deleteRequest(_ keys: [String]) -> [UInt8] {
        var xml = #"<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>"#
        for key in keys { xml += "<Object><Key>\(S3XMLElement.escape(key))</Key></Object>" }
        return Array((xml + "</Delete>").utf8)
    }

    static func completeRequest(_ etags: [String]) -> [UInt8] {
        var xml = #"<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">"#
        for (index, etag) in etags.enumerated() {
            xml += "<Part><PartNumber>\(index + 1)</PartNumber><ETag>\(S3XMLElement.escape(etag))</ETag></Part>"
        }
        return Array((xml + "</CompleteMultipartUpload>").utf8)
    }
}

/// A multipart upload that was started and neither completed nor aborted.
public struct S3PendingUpload: Sendable, Hashable {
    /// The whole key inside the bucket (store prefix included).
    public var key: String
    public var uploadID: String
    public var initiated: Date
}

/// The two time formats of S3: ISO 8601 in XML (`2026-11-22T07:43:08.000Z`) and the HTTP date of
/// `Last-Modified` (`Sun, 22 Nov 2026 07:43:08 GMT`). Parsed by hand: Foundation's formatters
/// are not `Sendable`, and these formats are fixed.
enum S3Dates {
    static func parseISO8601(_ text: String) -> Date? {
        let parts = text.split(whereSeparator: { "-T:Z".contains($0) })
        guard parts.count >= 6, let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
              let hour = Int(parts[3]), let minute = Int(parts[4]), let seconds = Double(parts[5]) else { return nil }
        return date(year: year, month: month, day: day, hour: hour, minute: minute, seconds: seconds)
    }

    static func parseHTTP(_ text: String) -> Date? {
        let parts = text.split(whereSeparator: { " :,".contains($0) })
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard parts.count >= 7, let day = Int(parts[1]), let month = months.firstIndex(of: String(parts[2])),
              let year = Int(parts[3]), let hour = Int(parts[4]), let minute = Int(parts[5]), let seconds = Double(parts[6])
        else { return nil }
        return date(year: year, month: month + 1, day: day, hour: hour, minute: minute, seconds: seconds)
    }

    /// The UTC date of a civil date and time (`CivilDate`).
    private static func date(year: Int, month: Int, day: Int, hour: Int, minute: Int, seconds: Double) -> Date? {
        guard (1...12).contains(month), (1...31).contains(day), (0...23).contains(hour), (0...59).contains(minute) else { return nil }
        let days = CivilDate.days(year: year, month: month, day: day)
        return Date(timeIntervalSince1970: Double(days * 86_400 + hour * 3600 + minute * 60) + seconds)
    }
}
