// GreenIOTesting: tools for testing code built on GreenIO — virtual time on a hub (`VirtualTime`),
// scripted in-memory sockets (`ScriptedSocket`), and a conformance kit for any `RawSocket`
// (`RawSocketConformance`). See Docs/Testing.md.
