/// How a server with several hubs spreads its connections over them (`ServerConfiguration.acceptBalancing`).
public enum AcceptBalancing: Sendable, Equatable {
    /// Each hub accepts on a listener of its own (`SO_REUSEPORT`) and serves what it accepted: the
    /// kernel picks the hub by a hash of the connection's addresses and ports. Nothing is shared
    /// and nothing handed over, which suits many short or similar connections; with few, or with
    /// a few much busier than the rest, some hubs get more work than others (at 8 hubs and 200
    /// connections, 19 to 32 per hub).
    case kernelHash
    /// Hub 0 accepts every connection and hands each to the hub serving the fewest connections at
    /// that moment (itself included; ties go to the lowest index): the hubs stay within one
    /// connection of each other as connections open, and a hub that lost connections gets the next
    /// ones. Costs a hand-over to another hub's thread per connection (an eventfd write and a
    /// re-registration with that hub's epoll) and puts every accept on hub 0, so it suits
    /// long-lived connections of uneven weight more than a high rate of short ones.
    case leastConnections
}
