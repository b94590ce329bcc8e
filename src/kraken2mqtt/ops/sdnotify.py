"""The systemd notification protocol (``sd_notify``) in a few lines of the standard library.

Under ``Type=notify`` systemd passes ``$NOTIFY_SOCKET``: a ``SOCK_DGRAM`` Unix socket, a filesystem path or
an abstract address written with a leading ``@``. Each datagram is newline-separated ``KEY=VALUE`` lines.
With ``WatchdogSec=`` it also passes ``$WATCHDOG_USEC`` (and ``$WATCHDOG_PID``, the process the watchdog is
meant for) and expects ``WATCHDOG=1`` at least that often, else it kills and (``Restart=``) restarts us.

Everything here is a no-op returning ``False`` when not run by systemd, so the daemon calls it
unconditionally::

    notifier = Notifier.from_environment()
    ...                                    # first broker connection made
    notifier.ready("connected to broker")
    watchdog = notifier.start_watchdog(lambda: app.healthy())   # pings only while healthy() is True
    ...                                    # SIGTERM received
    notifier.stopping("finishing in-flight commands")
    await stop_watchdog(watchdog)

The watchdog is fed from a task in the event loop, so a blocked or wedged loop stops the pings by itself,
and it sends nothing while the health predicate says the daemon is unhealthy: systemd then restarts it.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable, Mapping

import structlog

from kraken2mqtt.tasks import cancel_and_wait

log = structlog.get_logger(__name__)

__all__ = ["Notifier", "stop_watchdog"]

_SEND_TIMEOUT = 1.0  # seconds; a datagram to PID 1 normally leaves at once


def _socket_address(value: str) -> str | bytes | None:
    """``$NOTIFY_SOCKET`` as an address for ``socket.sendto``: ``@name`` is the abstract ``\\0name``."""
    if value.startswith("@") and len(value) > 1:
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None  # relative paths and AF_VSOCK addresses ("vsock:...") are not for us


class Notifier:
    """Sends state changes to systemd's notification socket; does nothing when there is none."""

    def __init__(
        self,
        address: str | None,
        *,
        watchdog_usec: str | None = None,
        watchdog_pid: str | None = None,
        pid: int | None = None,
    ) -> None:
        self._address = _socket_address(address) if address else None
        self._watchdog_usec = watchdog_usec
        self._watchdog_pid = watchdog_pid
        self._pid = pid if pid is not None else os.getpid()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None, *, unset: bool = False) -> Notifier:
        """A notifier for ``$NOTIFY_SOCKET``/``$WATCHDOG_*``. ``unset=True`` removes them from
        ``os.environ`` (so child processes do not talk to systemd in our name)."""
        env = os.environ if environ is None else environ
        notifier = cls(
            env.get("NOTIFY_SOCKET"),
            watchdog_usec=env.get("WATCHDOG_USEC"),
            watchdog_pid=env.get("WATCHDOG_PID"),
        )
        if unset and environ is None:
            for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
                os.environ.pop(key, None)
        return notifier

    @property
    def enabled(self) -> bool:
        """Whether there is a notification socket (we run under ``Type=notify``)."""
        return self._address is not None

    # -- messages -----------------------------------------------------------------------------------

    def notify(self, **fields: str | int) -> bool:
        """Send one datagram of ``KEY=VALUE`` lines. ``True`` if it was sent, ``False`` if there is no
        socket or sending failed (logged): a notification never takes the daemon down."""
        lines = []
        for key, value in fields.items():
            text = str(value)
            if "\n" in text or not key.isupper():
                raise ValueError(f"bad sd_notify field {key}={text!r}")
            lines.append(f"{key}={text}")
        if self._address is None or not lines:
            return False
        payload = "\n".join(lines).encode()
        try:
            # A socket per message, as libsystemd does: nothing to keep open or to close.
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.settimeout(_SEND_TIMEOUT)
                sock.sendto(payload, self._address)
        except OSError as exc:
            log.warning("sd_notify failed", error=str(exc), fields=sorted(fields))
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Start-up is complete (``READY=1``): systemd moves the unit to *active* and arms the watchdog."""
        return self._with_status(status, READY=1)

    def stopping(self, status: str | None = None) -> bool:
        """Shutdown has begun (``STOPPING=1``)."""
        return self._with_status(status, STOPPING=1)

    def reloading(self, status: str | None = None) -> bool:
        """A configuration reload has begun; send :meth:`ready` when it is done."""
        return self._with_status(status, RELOADING=1)

    def status(self, text: str) -> bool:
        """A one-line status shown by ``systemctl status``."""
        return self.notify(STATUS=" ".join(text.split()))

    def watchdog(self) -> bool:
        """Feed the watchdog (``WATCHDOG=1``)."""
        return self.notify(WATCHDOG=1)

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for ``seconds`` more to finish starting or stopping (``EXTEND_TIMEOUT_USEC``)."""
        return self.notify(EXTEND_TIMEOUT_USEC=max(1, round(seconds * 1_000_000)))

    def _with_status(self, status: str | None, **fields: str | int) -> bool:
        if status is not None:
            fields["STATUS"] = " ".join(status.split())
        return self.notify(**fields)

    # -- watchdog -------------------------------------------------------------------------------------

    def watchdog_interval(self) -> float | None:
        """The watchdog timeout in seconds (``$WATCHDOG_USEC``), or ``None`` when systemd expects no pings
        from this process (no watchdog, no socket, or ``$WATCHDOG_PID`` names another process)."""
        if self._address is None or not self._watchdog_usec:
            return None
        if self._watchdog_pid:
            try:
                if int(self._watchdog_pid) != self._pid:
                    return None
            except ValueError:
                return None
        try:
            usec = int(self._watchdog_usec)
        except ValueError:
            return None
        return usec / 1_000_000 if usec > 0 else None

    async def run_watchdog(
        self,
        healthy: Callable[[], bool],
        *,
        interval: float | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Ping every ``interval`` seconds (default: half the watchdog timeout) while ``healthy()`` is
        true; skip the ping (and log once per episode) while it is false. Returns at once when there is
        no watchdog; otherwise runs until cancelled. ``sleep`` is the wait between checks (tests step
        it by hand)."""
        timeout = self.watchdog_interval()
        if timeout is None:
            return
        period = interval if interval is not None else timeout / 2
        unhealthy = False
        while True:
            try:
                ok = healthy()
            except Exception:
                log.exception("watchdog health check raised: treating as unhealthy")
                ok = False
            if ok:
                if unhealthy:
                    log.info("healthy again: feeding the watchdog")
                unhealthy = False
                self.watchdog()
            elif not unhealthy:
                unhealthy = True
                log.warning("unhealthy: not feeding the watchdog", timeout_seconds=timeout)
            await sleep(period)

    def start_watchdog(
        self, healthy: Callable[[], bool], *, interval: float | None = None
    ) -> asyncio.Task[None] | None:
        """:meth:`run_watchdog` as a task of the running loop, or ``None`` when there is no watchdog."""
        if self.watchdog_interval() is None:
            return None
        return asyncio.get_running_loop().create_task(
            self.run_watchdog(healthy, interval=interval), name="systemd-watchdog"
        )


async def stop_watchdog(task: asyncio.Task[None] | None) -> None:
    """Cancel a task from :meth:`Notifier.start_watchdog` (``None`` is fine) and wait for it."""
    if task is not None:
        await cancel_and_wait(task)
