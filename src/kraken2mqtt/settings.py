"""Settings: a TOML file, ``KRAKEN2MQTT_*`` environment variables (``__`` nests), and secrets from
systemd credentials (``$CREDENTIALS_DIRECTORY``) or the environment. Secrets are held as ``SecretStr``.

Precedence, highest first: environment, credentials directory, TOML file, defaults.

The installed configuration (``/etc/kraken2mqtt/kraken2mqtt.toml``, as ``deploy/install.sh`` lays it out)
brings the service's surroundings with it when a command runs outside the service (``sudo kraken2mqtt
check-config``, ``status``): without ``$CREDENTIALS_DIRECTORY`` the credentials are read from
``/etc/kraken2mqtt/credentials/`` (where the unit's ``LoadCredential=`` takes them from), and without
``$STATE_DIRECTORY`` the state directory is the unit's (``/var/lib/kraken2mqtt``, or what its
``StateDirectory=`` says), never the invoking user's home.
"""

from __future__ import annotations

import os
import stat
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from kraken2mqtt.devices.config import DeviceList, deadman_problems
from kraken2mqtt.forecast.config import ForecastSettings
from kraken2mqtt.kraken.deployments import DEPLOYMENTS, DeploymentName
from kraken2mqtt.planner.config import PlannerSettings
from kraken2mqtt.redact import is_secret_key, register_secret

ENV_PREFIX = "KRAKEN2MQTT_"
DEFAULT_CONFIG = Path("/etc/kraken2mqtt/kraken2mqtt.toml")
# The installed unit (deploy/install.sh) and where systemd puts a StateDirectory= (as a system service).
SERVICE_UNIT = Path("/etc/systemd/system/kraken2mqtt.service")
SERVICE_STATE_ROOT = Path("/var/lib")
# File names under $CREDENTIALS_DIRECTORY (systemd LoadCredential=) and where each goes.
CREDENTIAL_FILES: dict[str, tuple[str, str]] = {
    "kraken_api_key": ("kraken", "api_key"),
    "kraken_password": ("kraken", "password"),
    "mqtt_password": ("mqtt", "password"),
}


class ConfigError(Exception):
    """The configuration is unusable; ``problems`` holds one readable line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KrakenSettings(_Section):
    deployment: DeploymentName = "octopus-gb"
    endpoint: AnyHttpUrl | None = None
    account_number: Annotated[str, Field(pattern=r"^[A-Z]-[0-9A-Z]{4,12}$")] | None = None
    api_key: SecretStr | None = None
    email: str | None = None
    password: SecretStr | None = None
    timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 20.0
    requests_per_hour: Annotated[int, Field(ge=10, le=10_000)] = 120

    @model_validator(mode="after")
    def _email_and_password_together(self) -> KrakenSettings:
        if (self.email is None) != (self.password is None):
            raise ValueError("email and password go together: set both or neither")
        return self

    @property
    def endpoint_url(self) -> str:
        return str(self.endpoint) if self.endpoint is not None else DEPLOYMENTS[self.deployment].endpoint

    @property
    def has_credentials(self) -> bool:
        return self.api_key is not None or (self.email is not None and self.password is not None)


class TlsSettings(_Section):
    enabled: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure: bool = False  # skip hostname verification (self-signed test brokers only)

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> TlsSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together: set both or neither")
        return self


_TOPIC = r"^[^#+\s/][^#+\s]*[^#+\s/]$|^[^#+\s/]$"


class MqttSettings(_Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    username: str | None = None
    password: SecretStr | None = None
    client_id: Annotated[str, Field(min_length=1, max_length=64)] = "kraken2mqtt"
    base_topic: Annotated[str, Field(pattern=_TOPIC)] = "kraken2mqtt"
    discovery_prefix: Annotated[str, Field(pattern=_TOPIC)] = "homeassistant"
    ha_legacy_object_id: bool = False  # also send object_id, for Home Assistant 2024.12-2025.9
    # A heat-pump setpoint / heating on-off set from Home Assistant holds the local planner off the pump
    ha_person_hold_minutes: Annotated[float, Field(ge=0, le=1440)] = 120.0
    keepalive_seconds: Annotated[int, Field(ge=5, le=3600)] = 60
    tls: TlsSettings = TlsSettings()


class LoggingSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class MetricsSettings(_Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 9842


def _default_state_dir() -> Path:
    # systemd's StateDirectory= sets $STATE_DIRECTORY; with the installed config, the unit's state
    # directory; elsewhere the XDG state home.
    if env := os.environ.get("STATE_DIRECTORY"):
        return Path(env.split(":")[0])
    if is_installed_config(_config_file.get()):
        return service_state_dir()
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "kraken2mqtt"


_config_file: ContextVar[Path | None] = ContextVar("_config_file", default=None)


def is_installed_config(path: Path | None) -> bool:
    """Whether ``path`` is the installed configuration file (the one the unit runs with)."""
    if path is None:
        return False
    try:
        return path.resolve() == DEFAULT_CONFIG.resolve()
    except OSError:
        return False


def installed_credentials_dir() -> Path:
    """Where ``deploy/install.sh`` keeps the credentials the unit loads (``LoadCredential=``)."""
    return DEFAULT_CONFIG.parent / "credentials"


def service_state_dir(unit: Path | None = None) -> Path:
    """The installed unit's state directory: the first ``StateDirectory=`` entry of the unit file and its
    drop-ins (assignments add up; an empty one resets), under ``/var/lib``; ``kraken2mqtt`` by default.
    (With ``DynamicUser=``, ``/var/lib/kraken2mqtt`` is systemd's symlink into ``/var/lib/private``.)"""
    unit = unit or SERVICE_UNIT
    files = [unit, *sorted(unit.with_name(unit.name + ".d").glob("*.conf"))]
    entries: list[str] = []
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except OSError:
            continue
        section = ""
        for raw in text.splitlines():
            line = raw.strip()
            if line.startswith("["):
                section = line
            elif section == "[Service]" and line.partition("=")[0].strip() == "StateDirectory":
                value = line.partition("=")[2].split()
                entries = entries + value if value else []
    name = entries[0].split(":")[0] if entries else "kraken2mqtt"
    return SERVICE_STATE_ROOT / name


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    state_dir: Path = Field(default_factory=_default_state_dir)
    kraken: KrakenSettings = KrakenSettings()
    mqtt: MqttSettings = MqttSettings()
    logging: LoggingSettings = LoggingSettings()
    metrics: MetricsSettings = MetricsSettings()
    planner: PlannerSettings = PlannerSettings()
    forecast: ForecastSettings = ForecastSettings()
    devices: DeviceList = Field(default_factory=list)

    @field_validator("state_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser()

    @model_validator(mode="after")
    def _local_time_of_the_deployment(self) -> Settings:
        # The planner's local time (reasons, windows, the house-load profile) is the deployment's own
        # (kraken/deployments.py) unless [planner] timezone says otherwise.
        if "timezone" not in self.planner.model_fields_set:
            tz = DEPLOYMENTS[self.kraken.deployment].time_zone
            object.__setattr__(self, "planner", self.planner.model_copy(update={"timezone": tz}))
        return self

    @model_validator(mode="after")
    def _deadmen_outlast_a_pass(self) -> Settings:
        # Dead-man periods and keepalives checked against the reconcile interval (devices/config.py).
        problems = deadman_problems(list(self.devices), self.planner.reconcile_seconds)
        if problems:
            raise KeyedProblems(problems, related="planner.reconcile_seconds")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [
            init_settings,
            env_settings,
            CredentialsDirectorySource(settings_cls),
        ]
        path = _config_file.get()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    def secrets(self) -> list[str]:
        values = [
            self.kraken.api_key,
            self.kraken.password,
            self.mqtt.password,
            self.forecast.solcast_api_key,
            self.forecast.forecast_solar_api_key,
        ]
        return [v.get_secret_value() for v in values if v is not None]


def credentials_dir(config_file: Path | None) -> Path | None:
    """Where credentials are read from: ``$CREDENTIALS_DIRECTORY`` (inside the service), else the installed
    credentials directory when ``config_file`` is the installed config, else none."""
    if directory := os.environ.get("CREDENTIALS_DIRECTORY"):
        return Path(directory)
    if is_installed_config(config_file):
        return installed_credentials_dir()
    return None


def unreadable_credentials(config_file: Path | None) -> Path | None:
    """The credentials directory if it exists but this user cannot read it (the installed one, 0700 root,
    for a command run without sudo); else None."""
    directory = credentials_dir(config_file)
    if directory is None or not directory.exists() or os.access(directory, os.R_OK | os.X_OK):
        return None
    return directory


class CredentialsDirectorySource(PydanticBaseSettingsSource):
    """Secrets from files in ``$CREDENTIALS_DIRECTORY`` (systemd ``LoadCredential=``), or, outside the
    service with the installed config, from the installed credentials directory."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ does the work

    def __call__(self) -> dict[str, Any]:
        directory = credentials_dir(_config_file.get())
        if directory is None:
            return {}
        found: dict[str, Any] = {}
        problems: list[str] = []
        for name, (section, key) in CREDENTIAL_FILES.items():
            path = directory / name
            try:
                mode = path.stat().st_mode
            except FileNotFoundError:
                continue
            except PermissionError:
                continue  # not root: see unreadable_credentials()
            if mode & stat.S_IROTH:
                problems.append(
                    f"credential {path}: readable by every user (mode {stat.S_IMODE(mode):04o}); "
                    f"run: chmod 600 {path}"
                )
                continue
            value = path.read_text(encoding="utf-8").strip()
            if value:
                found.setdefault(section, {})[key] = value
        if problems:
            raise ConfigError(problems)
        return found


def config_path(explicit: str | Path | None) -> Path | None:
    """The config file to read: ``--config``, else ``$KRAKEN2MQTT_CONFIG``, else the system default
    if it exists, else none (defaults and environment only)."""
    if explicit is not None:
        return Path(explicit)
    if env := os.environ.get(ENV_PREFIX + "CONFIG"):
        return Path(env)
    return DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Load and validate the settings; raise :class:`ConfigError` with one line per problem."""
    file = config_path(path)
    if file is not None:
        if not file.is_file():
            raise ConfigError([f"config file {file}: not found"])
        try:
            tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"config file {file}: not valid TOML: {exc}"]) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError([f"config file {file}: cannot be read: {exc}"]) from None
    token = _config_file.set(file)
    # The config path variable is ours, not a setting: hide it from pydantic-settings.
    hidden = os.environ.pop(ENV_PREFIX + "CONFIG", None)
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
    finally:
        _config_file.reset(token)
        if hidden is not None:
            os.environ[ENV_PREFIX + "CONFIG"] = hidden
    for secret in settings.secrets():
        register_secret(secret)
    return settings


class KeyedProblems(ValueError):
    """Problems a check across several options found (the model's own validator, which pydantic reports at
    no key), each line starting with the key to change (``devices[ev].keepalive_seconds: ...``)."""

    def __init__(self, problems: list[str], *, related: str | None = None) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
        self.related = related


def describe_validation_error(exc: ValidationError) -> list[str]:
    """One line per problem: which key, what was wrong, what is allowed (never a secret's value)."""
    lines = []
    for err in exc.errors(include_url=False):
        keyed = (err.get("ctx") or {}).get("error")
        if isinstance(keyed, KeyedProblems):
            for problem in keyed.problems:
                key = problem.split(":", 1)[0]
                also = f" (or {keyed.related})" if keyed.related else ""
                lines.append(f"{problem} [TOML {key}{also}]")
            continue
        loc = [str(p) for p in err["loc"]]
        key = ".".join(loc) or "(top level)"
        kind = err["type"]
        if kind == "extra_forbidden":
            lines.append(f"{key}: unknown option (check the spelling; see config/kraken2mqtt.example.toml)")
            continue
        msg = err["msg"].removeprefix("Value error, ")
        line = f"{key}: {msg[0].lower() + msg[1:] if msg else 'invalid'}"
        value = err.get("input")
        secret = any(is_secret_key(p) for p in loc)
        if not secret and isinstance(value, str | int | float | bool) and kind != "missing":
            shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "...'"
            line += f" (got {shown})"
        env = ENV_PREFIX + "__".join(p.upper() for p in loc)
        lines.append(f"{line} [TOML {key} / env {env}]")
    return lines
