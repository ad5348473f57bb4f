"""Every process of the product under supervisord: ``python -m ksem_site.supervisor``.

``make run`` and the systemd unit start this. It writes ``var/supervisord.conf`` for the
current environment and replaces itself with supervisord in the foreground, which

- starts the embedded Redis (only without ``REDIS_URL``), the simulator and its control box (unless
  ``KSEM_SIMULATOR=off``), web, https (``ksem_site.https_server``), worker, beat, modbus, eebus and the
  MQTT bridge (``serve_mqtt``), each
  through ``ksem_site.dependencies`` so they wait for Redis and the database instead of crashing;
- restarts a process that exits at once (a process that fails during start-up is retried with a
  growing delay; ``plant.supervision`` keeps retrying one that supervisord gave up on);
- logs which process died and how ("exited: worker (terminated by SIGKILL; not expected)");
- stops everything on Ctrl-C / SIGTERM and exits when all are gone.

The code the programs run (``directory=`` of each) is :func:`code_dir`: the release an update
installed (``<var>/releases/current``, docs/updates.md) when there is one, else this checkout.
Every program runs with this virtualenv's interpreter either way.

``--print`` writes the configuration to stdout instead of starting anything.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ksem_site.https_server import WS_MAX_SIZE_BYTES

ROOT = Path(__file__).resolve().parent.parent
HEADER = "; Written by ksem_site/supervisor.py at every start; edit that, not this."


class ReleaseError(Exception):
    """The installed release cannot be started; the message says why."""


@dataclass
class Program:
    name: str
    command: list[str]
    priority: int
    stop_wait_s: int = 10
    environment: dict[str, str] = field(default_factory=dict)


def _escape(value: str) -> str:
    return value.replace("%", "%%")


def _command(args: list[str]) -> str:
    return _escape(shlex.join(args))


SIMULATED_PLANT = Path(__file__).resolve().parent.parent / "simulator" / "scenarios" / "home.json"


def code_dir(var_dir: Path) -> Path:
    """The folder the programs run from: ``<var>/releases/current`` (resolved, so a later switch of the
    link does not move running processes) when it exists and holds ``manage.py``, else the checkout."""
    try:
        release = (Path(var_dir) / "releases" / "current").resolve(strict=True)
    except (OSError, RuntimeError):
        return ROOT
    return release if (release / "manage.py").is_file() else ROOT


def simulator_enabled(environ: dict[str, str] | os._Environ[str]) -> bool:
    value = environ.get("KSEM_SIMULATOR", "on").strip().lower()
    if value in {"on", "true", "1", "yes", ""}:
        return True
    if value in {"off", "false", "0", "no"}:
        return False
    raise SystemExit(f"KSEM_SIMULATOR={value!r} is not valid: use on or off")


def programs(
    var_dir: Path, environ: dict[str, str] | os._Environ[str], bin_dir: Path, code: Path = ROOT
) -> list[Program]:
    python = str(bin_dir / "python")
    web_host = environ.get("KSEM_WEB_HOST") or "127.0.0.1"
    web_port = environ.get("KSEM_WEB_PORT") or "8000"
    https_port = environ.get("KSEM_HTTPS_PORT") or "8443"
    meter_port = environ.get("KSEM_METER_PORT") or "15020"
    # Simulated inverter N answers on this + N (15021, 15022 by default).
    inverter_port_base = environ.get("KSEM_INVERTER_PORT_BASE") or meter_port
    # The simulated wallboxes' RS485 line answers on this + 1 (15030 by default; `make run` makes it RS485 B).
    wallbox_port_base = environ.get("KSEM_WALLBOX_PORT_BASE") or str(int(inverter_port_base) + 9)

    def waiting(name: str, *command: str) -> list[str]:
        return [python, "-m", "ksem_site.dependencies", name, "--", *command]

    result: list[Program] = []
    if not environ.get("REDIS_URL"):
        result.append(Program("redis", [python, "-m", "ksem_site.embedded_redis"], priority=10))
    if simulator_enabled(environ):
        extra = shlex.split(environ.get("KSEM_SIMULATOR_ARGS", ""))
        state = str(var_dir / "simulator-state.json")
        # The simulated plant of a fresh `make run`: its inverters answer on the ports after the meter's.
        scenario = environ.get("KSEM_SIMULATOR_SCENARIO") or str(code / SIMULATED_PLANT.relative_to(ROOT))
        command = [
            python, "-m", "simulator", "--port", meter_port, "--inverter-port-base", inverter_port_base,
            "--wallbox-port-base", wallbox_port_base, "--scenario", scenario, "--state-file", state, *extra,
        ]  # fmt: skip
        result.append(Program("simulator", command, priority=20))
        # The grid operator's simulated control box (SHIP on KSEM_CONTROLBOX_PORT, 4712; scripting
        # over HTTP on the port after it), coupled with the first plant by bootstrap_simulated.
        controlbox_port = environ.get("KSEM_CONTROLBOX_PORT") or "4712"
        controlbox = [
            python, "-m", "simulator.controlbox", "--port", controlbox_port,
            "--control-port", str(int(controlbox_port) + 1), "--state-dir", str(var_dir / "eebus" / "controlbox"),
        ]  # fmt: skip
        result.append(Program("controlbox", controlbox, priority=25))
    web = [
        str(bin_dir / "uvicorn"), "ksem_site.asgi:application", "--host", web_host, "--port", web_port,
        "--ws", "websockets-sansio", "--ws-max-size", str(WS_MAX_SIZE_BYTES), "--lifespan", "off", "--no-access-log",
        # Client addresses come from the socket; X-Forwarded-For is judged in Django (KSEM_TRUSTED_PROXIES).
        "--no-proxy-headers",
    ]  # fmt: skip
    # The same application over TLS (ACC-5), with the certificate of ksem_site.certificates.
    https = [python, "-m", "ksem_site.https_server", "--host", web_host, "--port", https_port]
    # `celery -A ksem_site worker|beat` without the rest of the `celery` program (ksem_site.celery_start):
    # a restart after a crash loads only what the worker needs (docs/operations.md, "Start-up").
    celery = [python, "-m", "ksem_site.celery_start"]
    worker = [
        *celery, "worker", "-Q", "realtime,default", "-P", "threads", "-c", "4",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "warning",
    ]  # fmt: skip
    result += [
        Program("worker", waiting("worker", *worker), priority=30, stop_wait_s=20),
        Program("beat", waiting("beat", *celery, "beat", "-l", "warning"), 40),
        Program("web", waiting("web", *web), priority=50),
        Program("https", waiting("https", *https), priority=55),
        # The product as a Modbus meter: TCP (KSEM_MODBUS_PORT) and TLS (KSEM_MODBUS_TLS_PORT).
        Program("modbus", waiting("modbus", python, "manage.py", "serve_modbus"), priority=60),
        # The plants as EEBus controllable systems (SHIP on KSEM_EEBUS_PORT, 4711, mDNS, LPC/LPP).
        Program("eebus", waiting("eebus", python, "manage.py", "serve_eebus"), priority=65),
        # The MQTT bridge (docs/mqtt.md): idle until the MQTT page or KSEM_MQTT_URL switches it on.
        Program("mqtt", waiting("mqtt", python, "manage.py", "serve_mqtt"), priority=66),
    ]
    return result


def render(var_dir: Path, environ: dict[str, str] | os._Environ[str], bin_dir: Path, code: Path | None = None) -> str:
    """The configuration of every program, run from ``code`` (default: :func:`code_dir`)."""
    code = code_dir(var_dir) if code is None else code
    return render_programs(var_dir, programs(var_dir, environ, bin_dir, code), bin_dir, code)


def render_programs(
    var_dir: Path, program_list: list[Program], bin_dir: Path, code: Path, *, supervision: bool = True
) -> str:
    var = _escape(str(var_dir))
    python = _escape(str(bin_dir / "python"))
    directory = _escape(str(code))
    # A release's settings would put their var folder inside the release: keep this one.
    keep_var = {} if code == ROOT else {"KSEM_VAR_DIR": str(var_dir)}
    lines = [
        HEADER,
        f"; Code: {directory}",
        "[supervisord]",
        "nodaemon=true",
        f"logfile={var}/log/supervisord.log",
        "logfile_maxbytes=5MB",
        "logfile_backups=2",
        f"pidfile={var}/supervisord.pid",
        f"childlogdir={var}/log",
        f"directory={directory}",
        "",
        "[unix_http_server]",
        f"file={var}/supervisor.sock",
        "chmod=0700",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{var}/supervisor.sock",
        "",
    ]
    for program in program_list:
        variables = {"KSEM_PROCESS": program.name, **keep_var, **program.environment}
        env = ",".join(f'{k}="{_escape(v)}"' for k, v in variables.items())
        lines += [
            f"[program:{program.name}]",
            f"command={_command(program.command)}",
            f"directory={directory}",
            f"priority={program.priority}",
            f"environment={env}",
            "autorestart=true",
            # Up for 2 s counts as started. A process that fails sooner is retried after
            # 1, 2, 3 ... s; after 5 such failures supervisord calls it FATAL.
            "startsecs=2",
            "startretries=5",
            "stopsignal=TERM",
            f"stopwaitsecs={program.stop_wait_s}",
            "stopasgroup=true",
            "killasgroup=true",
            "stdout_logfile=/dev/stdout",
            "stdout_logfile_maxbytes=0",
            "redirect_stderr=true",
            "",
        ]
    lines += (
        []
        if not supervision
        else [
            "[eventlistener:supervision]",
            f"command={python} -m plant.supervision listen {var}/supervision.json",
            f"directory={directory}",
            "events=PROCESS_STATE,TICK_5",
            "autorestart=true",
            "stderr_logfile=/dev/stderr",
            "stderr_logfile_maxbytes=0",
            "",
        ]
    )
    return "\n".join(lines)


def child_environment(var_dir: Path, environ: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """``environ`` without what supervisord sets per process (a process re-rendering the
    configuration passes on supervisord's environment, not its own name)."""
    result = {k: v for k, v in environ.items() if k != "KSEM_PROCESS" and not k.startswith("SUPERVISOR_")}
    result["KSEM_VAR_DIR"] = str(var_dir)
    return result


def migrate_release(var_dir: Path, code: Path, bin_dir: Path, environ: dict[str, str] | os._Environ[str]) -> None:
    """Apply an installed release's database migrations with its own ``manage.py`` (the checkout's
    are applied by ``make run`` and the service before this); nothing for the checkout itself."""
    if code == ROOT:
        return
    command = [str(bin_dir / "python"), "manage.py", "migrate", "--noinput"]
    try:
        done = subprocess.run(
            command, cwd=code, env=child_environment(var_dir, environ), capture_output=True, text=True, timeout=600
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ReleaseError(f"The migrations of the release in {code} did not run: {error}") from None
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise ReleaseError(
            f"The migrations of the release in {code} failed (exit {done.returncode}): {' | '.join(output)}. "
            "Roll back with `manage.py update_rollback` (docs/updates.md)."
        )


def write(var_dir: Path, config: str) -> Path:
    """Write ``<var>/supervisord.conf`` (through a temporary file, so supervisord never reads half)."""
    (var_dir / "log").mkdir(parents=True, exist_ok=True)
    path = var_dir / "supervisord.conf"
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(config)
    os.replace(temporary, path)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--print", action="store_true", help="print the configuration, start nothing")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ksem_site.settings")
    from django.conf import settings

    var_dir = Path(settings.VAR_DIR)
    bin_dir = Path(sys.executable).parent
    code = code_dir(var_dir)
    config = render(var_dir, os.environ, bin_dir, code)
    if args.print:
        sys.stdout.write(config)
        return
    print(f"Running the code in {code}" + (" (installed release)" if code != ROOT else ""), flush=True)
    try:
        migrate_release(var_dir, code, bin_dir, os.environ)
    except ReleaseError as error:
        raise SystemExit(str(error)) from None
    path = write(var_dir, config)
    sys.stdout.flush()
    os.execv(str(bin_dir / "supervisord"), [str(bin_dir / "supervisord"), "-c", str(path)])


if __name__ == "__main__":
    main()
