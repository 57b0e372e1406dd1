import PGBackupFoundations

extension SessionPlan {
    /// After the server said that WAL the stream needs is gone (SQLSTATE 58P01): where streaming
    /// resumes, and the WAL the repository will lack (nil: none).
    ///
    /// - Parameters:
    ///   - streamStart: where the stream began (the repository's end, a segment boundary).
    ///   - received: the end of the WAL the stream delivered before the error; a segment it
    ///     delivered only in part is lost with the rest (the server removes whole segments).
    ///   - resume: where the server still has WAL for certain: the slot's restart point, else its
    ///     current segment (a segment boundary).
    /// - Returns: the resume position, never before the first LSN the repository lacks, and the
    ///   gap from that LSN to the resume position when it is not empty.
    static func afterRemovedWAL(
        streamStart: LSN, received: LSN, resume: LSN, segmentSize: WALSegmentSize
    ) -> (resume: LSN, gap: Range<LSN>?) {
        let reached = max(streamStart, received)
        let missingFrom = reached - segmentSize.offset(of: reached)
        let resumeAt = max(resume, missingFrom)
        return (resumeAt, missingFrom < resumeAt ? missingFrom..<resumeAt : nil)
    }
}
