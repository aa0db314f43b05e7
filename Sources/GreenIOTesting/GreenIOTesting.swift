// GreenIOTesting: tools for testing code built on GreenIO — virtual time on a hub, scripted
// in-memory sockets, and a conformance kit for any `RawSocket`. See Docs/Testing.md.
@_exported import GreenIO
