"""Fetching and caching what the platform runs: JVM artifacts, Java runtimes, the Flink environment."""
