"""The wire protocol, sans-IO: bytes in, frozen dataclasses out, and the connection's state table.
Nothing here does I/O or touches the database; docs/protocol.md describes the same frames."""
