"""Change data capture: the source database (source.py), its workload (workload.py) and the Debezium
connector in Kafka Connect (connect.py). The pipelines are declared in lakehouse/pipelines/ecommerce_*."""
