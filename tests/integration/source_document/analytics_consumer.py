from kafka import KafkaConsumer
import json

consumer = KafkaConsumer(
    'user-events',
    bootstrap_servers=['localhost:9092'],
    value_deserializer=lambda x: json.loads(x.decode('utf-8')),
    key_deserializer=lambda x: x.decode('utf-8') if x else None,
    group_id='analytics-group',
    auto_offset_reset='latest'
)

print("🔍 Escuchando eventos...")
for mensaje in consumer:
    evento = mensaje.value
    user_id = mensaje.key

    print(f"Usuario {user_id} realizó: {evento['action']}")

    # Procesar evento
    if evento['action'] == 'purchase':
        procesar_compra(evento)
    elif evento['action'] == 'login':
        actualizar_sesion(evento)
