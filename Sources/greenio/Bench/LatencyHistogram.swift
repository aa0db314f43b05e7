/// A histogram of durations in nanoseconds with log-linear buckets: exact below 32 ns, then 32
/// buckets per power of two, so a percentile is within about 3 % of the true value. Recording is a
/// few instructions and no allocation, whatever the number of samples.
struct LatencyHistogram {
    private static let subBucketBits = 5
    private static let subBuckets = 1 << subBucketBits
    private static let bucketCount = (64 - subBucketBits + 1) * subBuckets

    private var counts = [Int](repeating: 0, count: LatencyHistogram.bucketCount)
    /// The number of samples recorded.
    private(set) var total = 0

    /// Records one duration.
    @inline(__always) mutating func record(nanoseconds: UInt64) {
        counts[Self.bucket(of: nanoseconds)] += 1
        total += 1
    }

    /// The value below which `fraction` (0...1) of the samples lie: the middle of its bucket, in
    /// nanoseconds; nil without samples.
    func percentile(_ fraction: Double) -> Double? {
        guard total > 0 else { return nil }
        let rank = Swift.max(1, Int((fraction * Double(total)).rounded(.up)))
        var seen = 0
        for (bucket, count) in counts.enumerated() where count > 0 {
            seen += count
            if seen >= rank { return Self.middle(of: bucket) }
        }
        return nil
    }

    @inline(__always) private static func bucket(of value: UInt64) -> Int {
        if value < UInt64(subBuckets) { return Int(value) }
        let exponent = 63 - value.leadingZeroBitCount
        let shift = exponent - subBucketBits
        let subBucket = Int(value >> UInt64(shift)) - subBuckets
        return (shift + 1) * subBuckets + subBucket
    }

    private static func middle(of bucket: Int) -> Double {
        if bucket < subBuckets { return Double(bucket) }
        let shift = bucket / subBuckets - 1
        let width = Double(sign: .plus, exponent: shift, significand: 1)
        return Double(subBuckets + bucket % subBuckets) * width + width / 2
    }
}
