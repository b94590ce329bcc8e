from __future__ import annotations

import os
from pathlib import Path

import pytest

from kraken2mqtt.cli import main
from kraken2mqtt.settings import ConfigError, load_settings

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "kraken2mqtt.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "k.toml"
    path.write_text(text)
    return path


def test_defaults_without_any_file() -> None:
    s = load_settings()
    assert s.kraken.deployment == "octopus-gb"
    assert s.kraken.endpoint_url == "https://api.octopus.energy/v1/graphql/"
    assert s.mqtt.base_topic == "kraken2mqtt"
    assert s.metrics.host == "127.0.0.1"


def test_example_config_is_valid_and_complete() -> None:
    s = load_settings(EXAMPLE)
    assert s.kraken.deployment == "octopus-gb"
    text = EXAMPLE.read_text()
    # Every option of every section is mentioned (commented) in the example.
    from kraken2mqtt.settings import Settings

    for section, model in Settings.model_fields.items():
        annotation = model.annotation
        fields = getattr(annotation, "model_fields", None)
        if fields is None:
            assert section in text
            continue
        for name in fields:
            assert name in text, f"{section}.{name} missing from the example config"


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("octopus-de", "https://api.oeg-kraken.energy/v1/graphql/"),
        ("octopus-jp", "https://api.oejp-kraken.energy/v1/graphql/"),
        ("red-energy-au", "https://api.redenergy-kraken.energy/v1/graphql/"),
    ],
)
def test_deployment_by_name(tmp_path: Path, name: str, url: str) -> None:
    s = load_settings(write(tmp_path, f'[kraken]\ndeployment = "{name}"\n'))
    assert s.kraken.endpoint_url == url


@pytest.mark.parametrize(
    ("name", "tz"),
    [
        ("octopus-gb", "Europe/London"),
        ("octopus-de", "Europe/Berlin"),
        ("red-energy-au", "Australia/Melbourne"),
    ],
)
def test_the_planners_local_time_is_the_deployments(tmp_path: Path, name: str, tz: str) -> None:
    s = load_settings(write(tmp_path, f'[kraken]\ndeployment = "{name}"\n'))
    assert s.planner.timezone == tz
    own = load_settings(write(tmp_path, f'[kraken]\ndeployment = "{name}"\n[planner]\ntimezone = "UTC"\n'))
    assert own.planner.timezone == "UTC"


def test_explicit_endpoint(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, '[kraken]\nendpoint = "http://127.0.0.1:9/v1/graphql/"\n'))
    assert s.kraken.endpoint_url == "http://127.0.0.1:9/v1/graphql/"


def test_env_overrides_file_and_nests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[mqtt]\nhost = "file-host"\nport = 1884\n')
    monkeypatch.setenv("KRAKEN2MQTT_MQTT__HOST", "env-host")
    monkeypatch.setenv("KRAKEN2MQTT_KRAKEN__API_KEY", "sk_live_fromenv123")
    s = load_settings(path)
    assert s.mqtt.host == "env-host"
    assert s.mqtt.port == 1884
    assert s.kraken.api_key is not None
    assert s.kraken.api_key.get_secret_value() == "sk_live_fromenv123"
    assert "sk_live_fromenv123" not in repr(s)


def test_config_path_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRAKEN2MQTT_CONFIG", str(write(tmp_path, "[mqtt]\nport = 2883\n")))
    assert load_settings().mqtt.port == 2883
    assert os.environ["KRAKEN2MQTT_CONFIG"]  # restored


def test_systemd_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    for name, value in {"kraken_api_key": "sk_live_credfile1\n", "mqtt_password": "brokerpw"}.items():
        (creds / name).write_text(value)
        (creds / name).chmod(0o400)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    s = load_settings()
    assert s.kraken.api_key is not None and s.kraken.api_key.get_secret_value() == "sk_live_credfile1"
    assert s.mqtt.password is not None and s.mqtt.password.get_secret_value() == "brokerpw"


def test_world_readable_credential_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "kraken_api_key").write_text("sk_live_leaky")
    (creds / "kraken_api_key").chmod(0o644)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "readable by every user" in info.value.problems[0]
    assert "sk_live_leaky" not in str(info.value)


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[kraken]\ndeployment = "octopus-fr"\n', "kraken.deployment: input should be 'octopus-gb'"),
        ("[mqtt]\nport = 70000\n", "mqtt.port: input should be less than or equal to 65535 (got 70000)"),
        ('[mqtt]\nhots = "x"\n', "mqtt.hots: unknown option"),
        ('[mqtt]\nbase_topic = "a/#"\n', "mqtt.base_topic: string should match pattern"),
        ('[kraken]\nemail = "a@b.c"\n', "kraken: email and password go together"),
        ('[kraken]\naccount_number = "12345"\n', "kraken.account_number: string should match pattern"),
        ('[mqtt.tls]\ncert_file = "/x.pem"\n', "mqtt.tls: cert_file and key_file go together"),
        ("[mqtt\nport = 1\n", "not valid TOML"),
    ],
)
def test_bad_config_lines(tmp_path: Path, toml: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, toml))
    assert any(expected in line for line in info.value.problems), info.value.problems


def test_secret_values_never_echoed_in_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, "[mqtt]\npassword = 12345678901\n"))
    assert "12345678901" not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")


def test_cli_reports_each_problem_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, '[mqtt]\nport = 0\nhots = 1\n[kraken]\ndeployment = "x"\n')
    code = main(["--config", str(path), "check-config"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("  ")]
    assert len(lines) == 3
    assert any("mqtt.port" in line for line in lines)


def test_check_config_offline_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, '[kraken]\napi_key = "sk_live_abcdef123456"\n')
    assert main(["--config", str(path), "check-config"]) == 0
    out = capsys.readouterr().out
    assert "[ok] Kraken credentials present" in out
    assert "sk_live_abcdef123456" not in out


def test_check_config_offline_without_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config"]) == 1
    assert "no Kraken credentials" in capsys.readouterr().out


def test_devices_from_the_device_example_file(tmp_path: Path) -> None:
    devices = (EXAMPLE.parent / "devices.example.toml").read_text()
    s = load_settings(write(tmp_path, devices))
    assert {d.adapter for d in s.devices} >= {"openevse", "givtcp", "tasmota", "template"}


def test_bad_device_entry_is_one_clear_line(tmp_path: Path) -> None:
    text = '[[devices]]\nid = "ev"\nkind = "battery"\nadapter = "openevse"\ntopic = "x"\n'
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert len(info.value.problems) == 1
    assert "cannot control a 'battery' device" in info.value.problems[0]


# -- the installed layout (deploy/install.sh), used outside the service ----------------------------------


def installed(root: Path, monkeypatch: pytest.MonkeyPatch, unit: str | None = None) -> Path:
    """/etc/kraken2mqtt as the installer leaves it, under ``root``; returns the config file."""
    etc = root / "etc" / "kraken2mqtt"
    (etc / "credentials").mkdir(parents=True, mode=0o700)
    config = etc / "kraken2mqtt.toml"
    config.write_text('[mqtt]\nhost = "broker.lan"\n')
    key = etc / "credentials" / "kraken_api_key"
    key.write_text("sk_live_installed1\n")
    key.chmod(0o600)
    unit_file = root / "etc" / "systemd" / "system" / "kraken2mqtt.service"
    unit_file.parent.mkdir(parents=True)
    unit_file.write_text(unit or "[Service]\nStateDirectory=kraken2mqtt\n")
    monkeypatch.setattr("kraken2mqtt.settings.DEFAULT_CONFIG", config)
    monkeypatch.setattr("kraken2mqtt.settings.SERVICE_UNIT", unit_file)
    monkeypatch.setattr("kraken2mqtt.settings.SERVICE_STATE_ROOT", root / "var" / "lib")
    return config


def test_installed_config_reads_the_installed_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = installed(tmp_path, monkeypatch)
    for how in (config, None):  # --config /etc/kraken2mqtt/kraken2mqtt.toml, or found by default
        s = load_settings(how)
        assert s.kraken.api_key is not None and s.kraken.api_key.get_secret_value() == "sk_live_installed1"
        assert s.mqtt.host == "broker.lan"
    monkeypatch.setenv("KRAKEN2MQTT_CONFIG", str(config))
    assert load_settings().kraken.api_key is not None


def test_credentials_directory_wins_over_the_installed_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = installed(tmp_path, monkeypatch)
    creds = tmp_path / "run-creds"
    creds.mkdir()
    (creds / "kraken_api_key").write_text("\n")  # the unit's SetCredential= fallback: not set
    (creds / "kraken_api_key").chmod(0o400)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert load_settings(config).kraken.api_key is None


def test_another_config_does_not_read_the_installed_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed(tmp_path / "root", monkeypatch)
    s = load_settings(write(tmp_path, "[mqtt]\nport = 1884\n"))
    assert s.kraken.api_key is None
    assert s.state_dir == tmp_path / "xdg-state" / "kraken2mqtt"  # the user's own, not the service's


def test_installed_config_uses_the_service_state_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = installed(tmp_path, monkeypatch)
    assert load_settings(config).state_dir == tmp_path / "var" / "lib" / "kraken2mqtt"
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/private/x:/var/lib/y")  # inside the service: systemd's
    assert load_settings(config).state_dir == Path("/var/lib/private/x")


def test_the_units_state_directory_and_its_drop_ins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kraken2mqtt.settings import service_state_dir

    config = installed(
        tmp_path, monkeypatch, unit="[Unit]\nStateDirectory=no\n[Service]\nStateDirectory=k2m a\n"
    )
    assert load_settings(config).state_dir == tmp_path / "var" / "lib" / "k2m"
    unit = tmp_path / "etc" / "systemd" / "system" / "kraken2mqtt.service"
    dropins = unit.with_name("kraken2mqtt.service.d")
    dropins.mkdir()
    (dropins / "10-state.conf").write_text("[Service]\nStateDirectory=\nStateDirectory=energy:old\n")
    assert service_state_dir(unit) == tmp_path / "var" / "lib" / "energy"
    assert service_state_dir(tmp_path / "absent.service") == tmp_path / "var" / "lib" / "kraken2mqtt"
