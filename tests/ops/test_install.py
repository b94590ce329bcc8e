"""deploy/install.sh into a temporary root: the tree it makes, idempotence, secrets, --uninstall/--purge.

pip is never run for real: ``--python`` points at a stub whose ``-m venv`` makes a fake virtualenv with a
``pip`` that only records its arguments (everything else goes to the real interpreter).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pty
import select
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.timing import scaled

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "deploy" / "install.sh"
SECRET = "sk_test_installer_key_0123456789"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")

STUB_PYTHON = """#!/bin/sh
if [ "$1" = -m ] && [ "$2" = venv ]; then
  mkdir -p "$3/bin"
  ln -s "{python}" "$3/bin/python"
  cat >"$3/bin/pip" <<EOF
#!/bin/sh
echo "\\$*" >>"$3/pip.log"
printf '#!/bin/sh\\n' >"$3/bin/kraken2mqtt"
chmod +x "$3/bin/kraken2mqtt"
EOF
  chmod +x "$3/bin/pip"
  exit 0
fi
exec "{python}" "$@"
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """PATH with a recording ``systemctl`` (which must never run for --root installs)."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    systemctl = bin_dir / "systemctl"
    systemctl.write_text(f'#!/bin/sh\necho "$*" >>"{tmp_path}/systemctl.log"\n')
    systemctl.chmod(0o755)
    python = tmp_path / "python-stub"
    python.write_text(STUB_PYTHON.format(python=sys.executable))
    python.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    r.mkdir()
    return r


def run(
    env: dict[str, str], *args: str, stdin: str = "", check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["bash", str(INSTALL), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=scaled(60),
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def stub(root: Path) -> str:
    return str(root.parent / "python-stub")


def tree(root: Path) -> dict[str, tuple[str, str]]:
    """Every path under root: (octal mode, content digest or link target)."""
    found = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            content = "-> " + os.readlink(path)
        elif path.is_file():
            content = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            content = ""
        found[str(path.relative_to(root))] = (oct(stat.S_IMODE(st.st_mode)), content)
    return found


def test_install_creates_the_tree(env: dict[str, str], root: Path) -> None:
    result = run(env, "--root", str(root), "--non-interactive", "--python", stub(root))
    venv = root / "opt/kraken2mqtt/venv"
    assert (venv / "bin/kraken2mqtt").exists()
    assert (root / "opt/kraken2mqtt/.installed-by-kraken2mqtt").exists()
    pip_log = (venv / "pip.log").read_text().splitlines()
    assert pip_log == [f"install --quiet --disable-pip-version-check --upgrade {ROOT}"]

    unit = root / "etc/systemd/system/kraken2mqtt.service"
    assert unit.read_text() == (ROOT / "systemd/kraken2mqtt.service").read_text()
    assert stat.S_IMODE(unit.stat().st_mode) == 0o644

    config = root / "etc/kraken2mqtt/kraken2mqtt.toml"
    assert config.read_text() == (ROOT / "config/kraken2mqtt.example.toml").read_text()
    assert stat.S_IMODE(config.stat().st_mode) == 0o644
    creds = root / "etc/kraken2mqtt/credentials"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o700
    assert list(creds.iterdir()) == []  # non-interactive and no key given: nothing invented
    assert "no Kraken API key yet" in result.stdout
    assert not (root.parent / "systemctl.log").exists()


def test_second_run_changes_nothing(env: dict[str, str], root: Path) -> None:
    args = ["--root", str(root), "--non-interactive", "--python", stub(root)]
    run(env, *args)
    config = root / "etc/kraken2mqtt/kraken2mqtt.toml"
    config.write_text('[mqtt]\nhost = "broker.lan"\n')  # the user's edits
    key = root / "etc/kraken2mqtt/credentials/kraken_api_key"
    key.write_text(SECRET + "\n")
    key.chmod(0o644)  # loosened by hand: tightened again
    before = tree(root)
    result = run(env, *args)
    after = tree(root)
    assert config.read_text() == '[mqtt]\nhost = "broker.lan"\n'
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text() == SECRET + "\n"
    changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    assert changed == {"opt/kraken2mqtt/venv/pip.log", "etc/kraken2mqtt/credentials/kraken_api_key"}
    assert len((root / "opt/kraken2mqtt/venv/pip.log").read_text().splitlines()) == 2  # upgraded again
    assert "unit /etc/systemd/system/kraken2mqtt.service unchanged" in result.stdout
    assert "exists: kept" in result.stdout
    # A third run is a fixed point.
    before = tree(root)
    run(env, *args)
    assert {p for p, v in tree(root).items() if before.get(p) != v} == {"opt/kraken2mqtt/venv/pip.log"}


def test_api_key_file_and_no_venv(env: dict[str, str], root: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(f"  {SECRET}\n\n")
    result = run(
        env, "--root", str(root), "--no-venv", "--api-key-file", str(key_file), "--prefix", "/srv/k2m"
    )
    assert not (root / "opt").exists() and not (root / "srv").exists()
    key = root / "etc/kraken2mqtt/credentials/kraken_api_key"
    assert key.read_text() == SECRET + "\n"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert SECRET not in result.stdout + result.stderr
    unit = (root / "etc/systemd/system/kraken2mqtt.service").read_text()
    assert "ExecStart=/srv/k2m/venv/bin/kraken2mqtt --config" in unit
    assert "/opt/kraken2mqtt" not in unit


def test_stdin_not_a_tty_never_prompts(env: dict[str, str], root: Path) -> None:
    result = run(env, "--root", str(root), "--no-venv", stdin=SECRET + "\n")
    assert not (root / "etc/kraken2mqtt/credentials/kraken_api_key").exists()
    assert "API key (" not in result.stdout


def test_interactive_prompt_does_not_echo(env: dict[str, str], root: Path) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # the child: the installer on a terminal
        os.execve("/bin/bash", ["bash", str(INSTALL), "--root", str(root), "--no-venv"], env)  # noqa: S606
    output = b""
    answers = [(b"to skip): ", SECRET.encode() + b"\n"), (b"needs none): ", b"mqtt-secret-pw\n")]
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
            if answers and output.endswith(answers[0][0]):
                os.write(fd, answers.pop(0)[1])
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    text = output.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "Kraken API key" in text and "MQTT password" in text
    assert SECRET not in text and "mqtt-secret-pw" not in text
    creds = root / "etc/kraken2mqtt/credentials"
    assert (creds / "kraken_api_key").read_text() == SECRET + "\n"
    assert (creds / "mqtt_password").read_text() == "mqtt-secret-pw\n"
    for f in creds.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600


def test_uninstall_keeps_config_and_purge_removes_it(env: dict[str, str], root: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(SECRET)
    run(env, "--root", str(root), "--python", stub(root), "--api-key-file", str(key_file))
    state = root / "var/lib/private/kraken2mqtt"
    state.mkdir(parents=True)
    (state / "kraken-token.json").write_text("{}")

    result = run(env, "--root", str(root), "--uninstall")
    assert not (root / "opt/kraken2mqtt").exists()
    assert not (root / "etc/systemd/system/kraken2mqtt.service").exists()
    assert (root / "etc/kraken2mqtt/kraken2mqtt.toml").exists()
    assert (root / "etc/kraken2mqtt/credentials/kraken_api_key").exists()
    assert state.exists()
    assert "kept /etc/kraken2mqtt" in result.stdout
    run(env, "--root", str(root), "--uninstall")  # again: nothing left to do, still fine

    run(env, "--root", str(root), "--uninstall", "--purge")
    assert not (root / "etc/kraken2mqtt").exists()
    assert not state.exists()
    assert not (root.parent / "systemctl.log").exists()


def test_uninstall_leaves_a_foreign_prefix_alone(env: dict[str, str], root: Path) -> None:
    foreign = root / "opt/kraken2mqtt"
    foreign.mkdir(parents=True)
    (foreign / "precious").write_text("not ours")
    result = run(env, "--root", str(root), "--uninstall")
    assert (foreign / "precious").exists()
    assert "left alone" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "unknown option"),
        (["--purge"], "--purge goes with --uninstall"),
        (["--prefix", "relative"], "absolute path"),
        (["--prefix", "/"], "must not be /"),
        (["--prefix", "/opt/a|b"], "may only contain"),
        (["--root", "/nonexistent/dir"], "no such directory"),
        (["--source", "/nonexistent/x.whl"], "not found"),
    ],
)
def test_bad_arguments_are_refused(env: dict[str, str], root: Path, args: list[str], message: str) -> None:
    if args[0] != "--root":
        args = ["--root", str(root), "--python", stub(root), *args]
    result = run(env, *args, check=False)
    assert result.returncode != 0
    assert message in result.stderr


def test_help() -> None:
    result = subprocess.run(["bash", str(INSTALL), "--help"], capture_output=True, text=True, check=True)
    options = ("--root", "--prefix", "--source", "--no-venv", "--non-interactive", "--uninstall", "--purge")
    for option in options:
        assert option in result.stdout


def test_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed")
    result = subprocess.run([shellcheck, str(INSTALL)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("K2M_TEST_REAL_VENV") != "1", reason="~15 s: set K2M_TEST_REAL_VENV=1 to run it"
)
def test_real_virtualenv_from_a_wheel(root: Path, tmp_path: Path) -> None:
    """The real path, offline: build our wheel, then let install.sh make a venv and pip-install it."""
    wheels = tmp_path / "wheels"
    # Offline when the build backend is at hand; else pip fetches hatchling into an isolated build env.
    isolation = [] if importlib.util.find_spec("hatchling") is None else ["--no-build-isolation"]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation, "-w", str(wheels), str(ROOT)],
        check=True,
        timeout=scaled(120),
    )
    (wheel,) = wheels.glob("kraken2mqtt-*.whl")
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_NO_DEPS": "1"}
    args = ["--root", str(root), "--non-interactive", "--python", sys.executable, "--source", str(wheel)]
    run(env, *args)
    venv = root / "opt/kraken2mqtt/venv"
    assert (venv / "bin/kraken2mqtt").exists()
    assert list(venv.glob("lib/python3*/site-packages/kraken2mqtt/ops/metrics.py"))
    run(env, *args)  # an upgrade in place
    run(env, "--root", str(root), "--uninstall")
    assert not (root / "opt/kraken2mqtt").exists()
