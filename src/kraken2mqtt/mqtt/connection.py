"""Building an aiomqtt client from the settings (TLS, auth, last will)."""

from __future__ import annotations

import socket
import ssl
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt

from kraken2mqtt.settings import MqttSettings


def status_topic(settings: MqttSettings) -> str:
    return f"{settings.base_topic}/status"


def tls_context(settings: MqttSettings) -> ssl.SSLContext | None:
    tls = settings.tls
    if not tls.enabled:
        return None
    context = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
    if tls.cert_file and tls.key_file:
        context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
    if tls.insecure:
        context.check_hostname = False
    return context


#: Small MQTT packets (a PUBACK, then a result) must not wait for Nagle's algorithm and the peer's delayed
#: ACK (~40 ms on Linux each time): commands are latency-bound, not bandwidth-bound.
SOCKET_OPTIONS = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)


def make_client(
    settings: MqttSettings, *, client_id_suffix: str = "", timeout: float = 10.0, with_will: bool = True
) -> aiomqtt.Client:
    """An aiomqtt client whose last will marks the daemon ``offline`` (retained).

    The daemon's own connection (``with_will``) keeps a persistent session (clean session off, a fixed
    client id): commands Home Assistant publishes while the daemon is disconnected (its reconnect backoff
    after a broker restart, a network blip) are queued by the broker and delivered when it is back, instead
    of being dropped because nobody was subscribed at that moment."""
    will = aiomqtt.Will(status_topic(settings), payload="offline", qos=1, retain=True) if with_will else None
    return aiomqtt.Client(
        hostname=settings.host,
        port=settings.port,
        username=settings.username,
        password=settings.password.get_secret_value() if settings.password else None,
        identifier=settings.client_id + client_id_suffix,
        keepalive=settings.keepalive_seconds,
        tls_context=tls_context(settings),
        will=will,
        timeout=timeout,
        socket_options=SOCKET_OPTIONS,
        clean_session=not with_will,
    )


class Deliveries:
    """Acknowledge QoS 1/2 messages ourselves, once they are handled, and keep the DUP flag.

    paho acknowledges a QoS 1 message (PUBACK) as soon as its ``on_message`` callback returns, which under
    aiomqtt is when the message is queued for ``client.messages``: long before a command reaches SQLite. A
    kill -9 in between loses the command, since the broker believes it delivered. paho has manual
    acknowledgement (``manual_ack_set`` + ``ack(mid, qos)``, paho.mqtt.python PR 753); aiomqtt 2.5 exposes
    neither it nor the DUP flag (empicano/aiomqtt issue 345, PR 346 still open), so this reaches its paho
    client (``aiomqtt.Client._client``), as that issue's workaround does. Attach it before connecting:
    a persistent session's queued messages arrive right after CONNACK.

    A message that is never acknowledged stays in the broker's session and comes again, with DUP set, on the
    next connect with the same client id (clean session off): :meth:`redelivered` says so, so that a
    handler can tell "seen and stored before the crash" from a new message."""

    def __init__(self, client: aiomqtt.Client) -> None:
        paho = getattr(client, "_client", None)
        self._paho = paho if isinstance(paho, mqtt.Client) else None
        self._dup: dict[int, bool] = {}
        self.acked = 0
        if self._paho is None:
            return
        self._paho.manual_ack_set(True)
        inner = self._paho.on_message

        def on_message(c: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
            if message.qos:
                self._dup[message.mid] = bool(message.dup)
            if inner is not None:
                inner(c, userdata, message)

        self._paho.on_message = on_message

    def redelivered(self, message: aiomqtt.Message) -> bool:
        """The broker sent this message before (DUP): it was not acknowledged then."""
        return bool(message.qos) and self._dup.get(message.mid, False)

    def ack(self, message: aiomqtt.Message) -> None:
        """PUBACK (QoS 1) / PUBCOMP (QoS 2) for a handled message; nothing for QoS 0."""
        if not message.qos or self._paho is None:
            return
        self._dup.pop(message.mid, None)
        self._paho.ack(message.mid, message.qos)
        self.acked += 1
