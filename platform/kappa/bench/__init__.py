"""Benchmarks: the Nexmark-style generator and the measurements behind `kappa bench`."""
