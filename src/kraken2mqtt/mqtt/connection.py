"""Building an aiomqtt client from the settings (TLS, auth, last will)."""

from __future__ import annotations

import socket
import ssl

import aiomqtt

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
