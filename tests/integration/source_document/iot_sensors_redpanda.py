# Producer para Redpanda
from kafka import KafkaProducer
import json
import time
import random

producer = KafkaProducer(
    bootstrap_servers=['localhost:19092'],
    value_serializer=lambda x: json.dumps(x).encode('utf-8')
)

# Simular stream de IoT sensors
def generar_datos_iot():
    while True:
        sensor_data = {
            'sensor_id': f'sensor_{random.randint(1, 100)}',
            'temperature': random.uniform(18.0, 35.0),
            'humidity': random.uniform(30.0, 80.0),
            'pressure': random.uniform(980.0, 1020.0),
            'timestamp': int(time.time() * 1000),
            'location': random.choice(['warehouse_a', 'warehouse_b', 'office'])
        }

        producer.send('iot-sensors', value=sensor_data)
        print(f"📊 Enviado: {sensor_data}")
        time.sleep(1)

# Consumer con alertas
from kafka import KafkaConsumer

consumer = KafkaConsumer(
    'iot-sensors',
    bootstrap_servers=['localhost:19092'],
    value_deserializer=lambda x: json.loads(x.decode('utf-8')),
    group_id='monitoring-group'
)

def procesar_alertas():
    print("🚨 Sistema de alertas iniciado...")
    for mensaje in consumer:
        data = mensaje.value

        # Detectar anomalías
        if data['temperature'] > 30:
            print(f"🔥 ALERTA: Temperatura alta en {data['sensor_id']}: {data['temperature']:.1f}°C")

        if data['humidity'] > 70:
            print(f"💧 ALERTA: Humedad alta en {data['sensor_id']}: {data['humidity']:.1f}%")

        # Enviar a sistema de almacenamiento
        almacenar_metricas(data)
