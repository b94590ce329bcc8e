"""Operations: Prometheus metrics (:mod:`.metrics`), systemd notify/watchdog (:mod:`.sdnotify`)."""
