extension Duration {
    /// The duration in seconds, with its fraction: what reports and metrics print.
    public var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
