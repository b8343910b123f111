"""One module per supervised service: how to configure, start and probe it."""
