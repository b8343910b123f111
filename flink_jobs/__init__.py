"""PyFlink jobs. Each runs in the Flink environment (apache-flink + stdlib only) from a JSON job spec
rendered by the platform, so hosts, ports and table names are never literals here."""
