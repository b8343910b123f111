from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer

# Definir schema Avro
schema_str = """
{
  "type": "record",
  "name": "UserEvent",
  "fields": [
    {"name": "user_id", "type": "string"},
    {"name": "action", "type": "string"},
    {"name": "timestamp", "type": "long"},
    {"name": "properties", "type": {"type": "map", "values": "string"}}
  ]
}
"""

# Configurar Schema Registry
schema_registry_client = SchemaRegistryClient({
    'url': 'http://localhost:8081'
})

avro_serializer = AvroSerializer(
    schema_registry_client,
    schema_str
)

producer = Producer({
    'bootstrap.servers': 'localhost:9092'
})

# Enviar con schema
evento = {
    'user_id': 'user_456',
    'action': 'view_product',
    'timestamp': int(datetime.now().timestamp() * 1000),
    'properties': {
        'product_id': 'prod_789',
        'category': 'electronics',
        'price': '299.99'
    }
}

producer.produce(
    topic='user-events-avro',
    value=avro_serializer(evento, None)
)
