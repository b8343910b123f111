"""Great Expectations 1.x suites as code, one per table, and the asset checks that run them."""
