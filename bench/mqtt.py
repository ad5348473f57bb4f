"""End of a cycle -> its state message at an MQTT subscriber, over 300 cycles, and messages per cycle.

Real cycles (``plant.worker.run_plant_cycle``) against the simulated meter, published to Redis and
the plant's live group as in production; ``manage.py serve_mqtt`` as its own process; a paho
subscriber on the broker. A cycle ends when it publishes: the snapshot's timestamp (cycle start)
plus its cycle duration; it arrives when its ``timestamp`` topic (sent last in each pass) reaches the
subscriber. Broker: the machine's Mosquitto on 127.0.0.1:1883, else one started here on an
ephemeral port. Discovery is off (it goes out once, at connect); every retained topic is cleared
at the end. Target: p99 <= 20 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from bench.common import django_env, summary, write_result

ROOT = Path(__file__).resolve().parent.parent


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _broker(tmp: Path) -> tuple[int, subprocess.Popen[bytes] | None]:
    if _answers(1883):
        return 1883, None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    conf = tmp / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\n")
    process = subprocess.Popen(["/usr/sbin/mosquitto", "-c", str(conf)], stderr=subprocess.DEVNULL)
    while not _answers(port):
        time.sleep(0.02)
    return port, process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--interval-s", type=float, default=0.2, help="pause between cycles")
    args = parser.parse_args()
    with django_env("mqtt") as tmp:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        from integrations.models import MqttSettings
        from meter.models import Meter
        from plant import worker
        from plant.models import Plant
        from simulator.testing import run_simulator_in_thread

        port, broker = _broker(tmp)
        prefix = f"ksembench/{uuid.uuid4().hex[:8]}"
        lock = threading.Condition()
        arrivals: dict[str, float] = {}
        counted = [0]
        seen: set[str] = set()

        def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
            now = time.time()
            with lock:
                counted[0] += 1
                seen.add(message.topic)
                if message.topic.endswith("/timestamp"):
                    arrivals[message.payload.decode()] = now
                    lock.notify_all()

        bridge = None
        with run_simulator_in_thread() as sim:
            plant = Plant.objects.create(name="bench")
            Meter.objects.create(plant=plant, host=sim.host, port=sim.port, timeout_s=0.5)
            MqttSettings.objects.create(pk=1, enabled=True, host="127.0.0.1", port=port, prefix=prefix, discovery=False)
            subscriber = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{uuid.uuid4().hex[:8]}")
            subscriber.on_message = on_message
            subscriber.connect("127.0.0.1", port)
            subscriber.subscribe(f"{prefix}/#")
            subscriber.loop_start()
            log = (tmp / "serve_mqtt.log").open("wb")
            bridge = subprocess.Popen(
                [sys.executable, "manage.py", "serve_mqtt", "--reload", "0.5"], cwd=ROOT, env=dict(os.environ),
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            try:
                latencies: list[float] = []
                messages: list[int] = []
                warmup = 5
                for index in range(args.cycles + warmup):
                    with lock:
                        before = counted[0]
                    state = worker.run_plant_cycle(plant.pk)
                    stamp = state.timestamp.isoformat()
                    ended = (state.timestamp + dt.timedelta(seconds=state.cycle_duration_s)).timestamp()

                    def arrived(stamp: str = stamp) -> bool:
                        return stamp in arrivals

                    with lock:
                        if not lock.wait_for(arrived, timeout=10 if index < warmup else 2):
                            if index >= warmup:
                                raise SystemExit(f"cycle {index}: no state message within 2 s")
                            continue
                        received = arrivals[stamp]
                    time.sleep(0.05)  # the pass is complete at the timestamp; let stragglers count
                    with lock:
                        after = counted[0]
                    if index >= warmup:
                        latencies.append((received - ended) * 1000)
                        messages.append(after - before)
                    time.sleep(args.interval_s)
            finally:
                bridge.terminate()
                bridge.wait(10)
                with lock:  # leave nothing retained on the machine's broker
                    left = sorted(seen)
                for topic in left:
                    subscriber.publish(topic, b"", retain=True)
                time.sleep(0.2)
                subscriber.loop_stop()
                worker.shutdown_runtimes()
                if broker is not None:
                    broker.terminate()
                    broker.wait(5)
        figures = summary(latencies)
        result = {
            "cycles": args.cycles,
            "pause_between_cycles_s": args.interval_s,
            "broker": "machine mosquitto 127.0.0.1:1883" if broker is None else "mosquitto started by the benchmark",
            "latency_ms": figures,
            "p50_ms": figures["p50"],
            "p99_ms": figures["p99"],
            "messages_per_cycle": round(sum(messages) / len(messages), 2),
            "messages_per_cycle_max": max(messages),
        }
        write_result("mqtt", result, {"p99_ms": 20})


if __name__ == "__main__":
    main()
