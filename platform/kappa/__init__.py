"""Kappa lakehouse platform: settings, runtime, CLI."""
