"""One module per pipeline, each declaring `PIPELINE` (lakehouse/pipeline.py is the language, and
lakehouse/registry.py reads them all). A pipeline's Flink SQL is in flink_jobs/<name>.py."""
