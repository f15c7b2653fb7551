"""A non-Java client against the pipeline, written exactly as docs/producing.md shows.

Produces one conversation with Confluent's Python client (confluent-kafka + fastavro), with
auto.register.schemas off and the schema given as the raw text of Conversation.avsc: the lookup
must find the schema the services registered. Then reads the examples topic with the Python
Avro deserializer until the conversation's example appears, and the releases topic for the
current release of adapter `default` and its history.

Not part of the test suite (the README's test command needs no Python); run it against a local
run started with --keep-running:

    python confluent_python_client.py --bootstrap 127.0.0.1:PORT \
        --registry http://127.0.0.1:PORT/apis/ccompat/v7
"""
import argparse
import pathlib
import time
import uuid

from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

AVRO = pathlib.Path(__file__).resolve().parents[4] / "schemas" / "src" / "main" / "avro"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--registry", required=True)
    parser.add_argument("--conversations", default="sft.conversations")
    parser.add_argument("--examples", default="sft.examples")
    parser.add_argument("--releases", default="sft.adapter-releases")
    args = parser.parse_args()

    registry = SchemaRegistryClient({"url": args.registry})
    serializer = AvroSerializer(registry, (AVRO / "Conversation.avsc").read_text(),
                                conf={"auto.register.schemas": False})
    conversation_id = "python-" + uuid.uuid4().hex[:8]
    value = {
        "id": conversation_id, "adapter": "default",
        "messages": [{"role": "user", "content": "Please note: Python can write here.", "train": None},
                     {"role": "assistant", "content": "Noted.", "train": None}],
        "tools": None, "metadata": {"source": "confluent-kafka"},
        "createdAt": int(time.time() * 1000),
    }
    producer = Producer({"bootstrap.servers": args.bootstrap})
    producer.produce(args.conversations, key=conversation_id.encode("utf-8"),
                     value=serializer(value, SerializationContext(args.conversations,
                                                                  MessageField.VALUE)))
    producer.flush(30)
    print(f"produced {conversation_id} with auto.register.schemas=False")

    deserializer = AvroDeserializer(registry)
    consumer = Consumer({"bootstrap.servers": args.bootstrap, "group.id": conversation_id,
                         "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
    consumer.subscribe([args.examples])
    deadline = time.time() + 60
    read = 0
    while time.time() < deadline:
        message = consumer.poll(1.0)
        if message is None or message.error():
            continue
        example = deserializer(message.value(), SerializationContext(args.examples,
                                                                     MessageField.VALUE))
        read += 1
        if example["conversationId"] == conversation_id:
            trained = sum(1 for label in example["labels"] if label != -100)
            print(f"read {read} examples with the Python deserializer; ours has "
                  f"{len(example['inputIds'])} tokens, {trained} trained")
            consumer.close()
            print_release(args, deserializer)
            return
    consumer.close()
    raise SystemExit(f"the example of {conversation_id} did not arrive within 60 s ({read} read)")


def print_release(args, deserializer):
    """The last record keyed `default` on the compacted releases topic: the current release."""
    consumer = Consumer({"bootstrap.servers": args.bootstrap, "group.id": "py-" + uuid.uuid4().hex[:8],
                         "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                         "enable.partition.eof": True})
    consumer.subscribe([args.releases])
    current = None
    while True:
        message = consumer.poll(5.0)
        if message is None or (message.error() and message.error().code() == -191):  # EOF
            break
        if message.error():
            continue
        if message.key() == b"default":
            current = deserializer(message.value(), SerializationContext(args.releases,
                                                                         MessageField.VALUE))
    consumer.close()
    if current is None:
        raise SystemExit(f"no release of adapter default on {args.releases}")
    print(f"current release of default: v{current['version']} ({current['decision']}, replaces "
          f"{current['replaces']}, {current['releasedAt']}): {current['reason'][:80]}")
    for past in current["history"]:
        print(f"  before: v{past['version']} ({past['decision']}, {past['releasedAt']})")


if __name__ == "__main__":
    main()
