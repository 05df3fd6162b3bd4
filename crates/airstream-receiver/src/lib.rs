//! An embedded RAOP receiver: the server side of an AirPlay 1 audio session, writing the
//! samples it receives (by RTP timestamp, gaps as silence) to a WAV file. It backs
//! `airstream receive`, the README demo, and the test suite's fake receiver (behaviour flags).
