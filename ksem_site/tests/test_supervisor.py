"""The supervisord configuration, the crash bookkeeping and the wait for dependencies (issue 10)."""

from __future__ import annotations

import configparser
import json
import logging
from pathlib import Path

import pytest

from ksem_site.dependencies import wait_for_dependencies
from ksem_site.supervisor import ROOT, child_environment, code_dir, render
from plant.supervision import CRASH_COUNT, FATAL_RETRY_FIRST_S, Recorder, process_report

BIN = Path("/venv/bin")


def _programs(environ: dict[str, str]) -> dict[str, str]:
    config = configparser.RawConfigParser()
    config.read_string(render(Path("/var/ksem"), environ, BIN))
    return {s.removeprefix("program:"): config[s]["command"] for s in config.sections() if s.startswith("program:")}


def test_make_run_starts_every_process_and_the_embedded_redis():
    programs = _programs({"KSEM_WEB_PORT": "8123", "KSEM_METER_PORT": "15123"})
    assert sorted(programs) == [
        "beat", "controlbox", "eebus", "https", "modbus", "mqtt", "redis", "simulator", "web", "worker",
    ]  # fmt: skip
    assert "--port 15123" in programs["simulator"]
    assert "--port 8123" in programs["web"]
    assert "-m ksem_site.https_server" in programs["https"] and "--port 8443" in programs["https"]
    assert "manage.py serve_eebus" in programs["eebus"]
    assert "-m simulator.controlbox --port 4712 --control-port 4713" in programs["controlbox"]
    for name in ("web", "https", "worker", "beat", "modbus", "eebus", "mqtt"):
        assert programs[name].startswith(f"/venv/bin/python -m ksem_site.dependencies {name} -- ")


@pytest.mark.parametrize("switch", ["off", "OFF", "false", "0", "no"])
def test_a_real_installation_runs_without_the_simulator_and_with_its_own_redis(switch: str):
    programs = _programs({"KSEM_SIMULATOR": switch, "REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert sorted(programs) == ["beat", "eebus", "https", "modbus", "mqtt", "web", "worker"]


def test_the_https_program_listens_where_web_does_on_its_own_port():
    programs = _programs({"KSEM_WEB_HOST": "0.0.0.0", "KSEM_HTTPS_PORT": "9443"})
    assert "--host 0.0.0.0 --port 9443" in programs["https"]
    assert "--ws-max-size 65536" in programs["web"]


def test_a_bad_simulator_switch_is_refused_with_its_name():
    with pytest.raises(SystemExit, match="KSEM_SIMULATOR"):
        _programs({"KSEM_SIMULATOR": "maybe"})


def test_one_crash_is_a_blip_three_are_a_crash_loop(tmp_path: Path):
    recorder = Recorder(tmp_path / "supervision.json")
    now = 1_000_000.0
    recorder.handle("PROCESS_STATE_RUNNING", {"processname": "worker"}, now)
    recorder.handle("PROCESS_STATE_EXITED", {"processname": "worker", "expected": "0", "pid": "7"}, now + 1)
    recorder.handle("PROCESS_STATE_RUNNING", {"processname": "worker"}, now + 3)
    recorder.write(now + 3)
    report = process_report(tmp_path, now=now + 4)
    assert report["supervised"] and report["ok"]
    assert report["processes"]["worker"]["unexpected_exits_10min"] == 1

    for k in range(CRASH_COUNT - 1):  # dying again, once while still starting (BACKOFF)
        state = "PROCESS_STATE_BACKOFF" if k else "PROCESS_STATE_EXITED"
        recorder.handle(state, {"processname": "worker", "expected": "0"}, now + 10 + k)
    recorder.write(now + 20)
    report = process_report(tmp_path, now=now + 20)
    assert not report["ok"]
    assert report["problems"] == [f"worker keeps crashing ({CRASH_COUNT} restarts in 10 min)"]
    assert process_report(tmp_path, now=now + 20 + 600)["supervised"] is False, "a file nobody updates is stale"


def test_a_stopped_process_is_not_a_crash(tmp_path: Path):
    recorder = Recorder(tmp_path / "supervision.json")
    recorder.handle("PROCESS_STATE_EXITED", {"processname": "web", "expected": "1"}, 5.0)
    assert recorder.processes["web"].exits == []


def test_a_process_supervisord_gave_up_on_is_retried_later_and_reported(tmp_path: Path):
    recorder = Recorder(tmp_path / "supervision.json")
    assert recorder.handle("PROCESS_STATE_FATAL", {"processname": "beat"}, 100.0) == []
    assert recorder.handle("TICK_5", {}, 100.0 + FATAL_RETRY_FIRST_S - 1) == []
    assert recorder.handle("TICK_5", {}, 100.0 + FATAL_RETRY_FIRST_S) == ["beat"]
    assert recorder.handle("TICK_5", {}, 100.0 + FATAL_RETRY_FIRST_S + 5) == [], "once per FATAL"
    recorder.write(140.0)
    report = process_report(tmp_path, now=141.0)
    assert not report["ok"] and "beat does not start" in report["problems"][0]
    # Failing again waits twice as long.
    recorder.handle("PROCESS_STATE_FATAL", {"processname": "beat"}, 200.0)
    assert recorder.handle("TICK_5", {}, 200.0 + FATAL_RETRY_FIRST_S) == []
    assert recorder.handle("TICK_5", {}, 200.0 + 2 * FATAL_RETRY_FIRST_S) == ["beat"]


def test_without_supervisord_nothing_is_reported(tmp_path: Path):
    assert process_report(tmp_path) == {"ok": True, "supervised": False, "processes": {}, "problems": []}
    (tmp_path / "supervision.json").write_text(json.dumps({"updated_at": 0, "processes": {}}))
    assert process_report(tmp_path)["supervised"] is False


def test_waits_for_a_missing_dependency_with_one_clear_message(caplog: pytest.LogCaptureFixture):
    clock = [0.0]
    # Refused for 0.2 + 0.4 + 0.8 + 1.6 + 2 + 2 = 7 s: longer than a neighbour's start-up.
    answers = iter([ConnectionRefusedError("Connection refused")] * 6 + [None])

    def redis_check() -> None:
        error = next(answers)
        if error:
            raise error

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    wait_for_dependencies("worker", [("Redis at redis://db:6379/0", redis_check)], sleep=sleep, clock=lambda: clock[0])
    waiting = [r.getMessage() for r in caplog.records if "waiting for" in r.getMessage()]
    assert waiting == ["worker: waiting for Redis at redis://db:6379/0 (Connection refused); retrying"]
    assert "answers after 7.0 s" in caplog.records[-1].getMessage()


def test_a_dependency_that_answers_within_seconds_is_waited_for_silently(caplog: pytest.LogCaptureFixture):
    """`make run` starts the embedded Redis beside the other processes: no warning per process."""
    clock = [0.0]
    answers = iter([ConnectionRefusedError("Connection refused")] * 4 + [None])  # 3 s

    def redis_check() -> None:
        error = next(answers)
        if error:
            raise error

    wait_for_dependencies(
        "worker",
        [("Redis at unix:///var/redis.sock", redis_check)],
        sleep=lambda s: clock.__setitem__(0, clock[0] + s),
        clock=lambda: clock[0],
    )
    assert next(answers, "done") == "done", "it waited until Redis answered"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_gives_up_only_when_asked_to():
    def down() -> None:
        raise OSError("no route to host")

    clock = [0.0]
    with pytest.raises(TimeoutError, match="the database"):
        wait_for_dependencies(
            "web",
            [("the database", down)],
            timeout_s=10,
            sleep=lambda s: clock.__setitem__(0, clock[0] + s),
            clock=lambda: clock[0],
        )


def test_worker_and_beat_start_through_celerys_own_commands_without_the_whole_celery_program():
    programs = _programs({})
    assert "-m ksem_site.celery_start worker -Q realtime,default -P threads -c 4" in programs["worker"]
    assert "-m ksem_site.celery_start beat -l warning" in programs["beat"]


def test_the_celery_start_refuses_what_it_does_not_start():
    from ksem_site.celery_start import main

    with pytest.raises(SystemExit, match="worker,beat"):
        main(["inspect", "ping"])


def _sections(var: Path) -> configparser.RawConfigParser:
    config = configparser.RawConfigParser()
    config.read_string(render(var, {}, BIN))
    return config


def test_without_an_installed_release_every_program_runs_from_the_checkout(tmp_path: Path):
    config = _sections(tmp_path)
    runs = [s for s in config.sections() if s.startswith(("program:", "eventlistener:"))]
    assert len(runs) == 11 and {config[s]["directory"] for s in runs} == {str(ROOT)}
    assert config["supervisord"]["directory"] == str(ROOT)
    assert all("KSEM_VAR_DIR" not in config[s]["environment"] for s in runs if s.startswith("program:"))
    assert str(ROOT / "simulator" / "scenarios" / "home.json") in config["program:simulator"]["command"]


def test_an_installed_release_runs_every_program_from_its_folder_with_the_same_var_folder(tmp_path: Path):
    release = tmp_path / "releases" / "0.2.0"
    release.mkdir(parents=True)
    (release / "manage.py").write_text("")
    (tmp_path / "releases" / "current").symlink_to("0.2.0")
    assert code_dir(tmp_path) == release
    config = _sections(tmp_path)
    runs = [s for s in config.sections() if s.startswith(("program:", "eventlistener:"))]
    assert {config[s]["directory"] for s in runs} == {str(release)}  # resolved: a later switch moves nothing
    for name in ("web", "worker", "modbus"):
        assert f'KSEM_VAR_DIR="{tmp_path}"' in config[f"program:{name}"]["environment"]
        assert config[f"program:{name}"]["command"].startswith("/venv/bin/python ")  # the same interpreter
    assert str(release / "simulator" / "scenarios" / "home.json") in config["program:simulator"]["command"]


def test_a_re_rendering_process_passes_on_supervisords_environment_not_its_own_name(tmp_path: Path):
    environ = {"KSEM_PROCESS": "web", "SUPERVISOR_PROCESS_NAME": "web", "KSEM_WEB_PORT": "8123"}
    assert child_environment(tmp_path, environ) == {"KSEM_WEB_PORT": "8123", "KSEM_VAR_DIR": str(tmp_path)}
    config = configparser.RawConfigParser()
    config.read_string(render(tmp_path, child_environment(tmp_path, environ), BIN))
    assert config["program:worker"]["environment"].startswith('KSEM_PROCESS="worker"')
