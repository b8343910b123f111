"""The `kappa` command."""
