# Strom compat shim for `test/service.py`, which kafka-python 3.0.12's sdist omits. The integration fixtures
# import ExternalService (a broker already running: KAFKA_URI) and SpawnedService (a Kafka/ZooKeeper process
# started from KAFKA_ROOT). Against Strom only the external broker exists; spawning one is refused.


class ExternalService:
    def __init__(self, host, port):
        self.host = host
        self.port = port

    def open(self):
        pass

    def close(self):
        pass

    def dump_logs(self):
        pass

    def wait_for(self, pattern, timeout=30):
        pass


class SpawnedService:
    def __init__(self, *args, **kwargs):
        raise RuntimeError("compat/kafka-python runs against one external Strom broker; "
                           "this test wants to spawn its own Kafka broker")
