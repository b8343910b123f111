"""The local service runtime shared by the CLI and the tests."""
