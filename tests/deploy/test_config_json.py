"""The Lambda bundle ships each config/*.yaml with its JSON form, made in the same build step (lambda/Makefile,
lambda/compile_config.py): the Slack function's cold ack reads the JSON with the json module and never imports
PyYAML. The YAML stays the file people edit and the authority: both readings are the same settings, and a
JSON that was not made from the YAML beside it is never read."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
import yaml
from harness import (
    cold_ack,
    config_data,
)

from bot.config import load_config
from bot.config_source import AckSettings, compile_config, compiled_path, plain_data, read_config_file, read_yaml
from handlers.runtime import Configuration

from .checks import REPO

MAKEFILE = REPO / "lambda" / "Makefile"
BUILD = ["make", "--silent", "-f", str(MAKEFILE), "build-SlackFunction"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Slack function's bundle, built by the build target `sam build` runs."""
    directory = tmp_path_factory.mktemp("bundle")
    result = subprocess.run(
        [*BUILD, f"ARTIFACTS_DIR={directory}", f"PYTHON={sys.executable}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return directory


def test_the_build_ships_each_config_with_its_json_form(bundle: Path) -> None:
    shipped = sorted(p.name for p in (bundle / "config").iterdir())
    sources = sorted(p.name for p in (REPO / "config").glob("*.yaml"))
    assert sources, "the repository has a config/*.yaml"
    assert shipped == sorted([*sources, *(f"{name}.json" for name in sources)])


def test_the_bundle_holds_byte_code_for_the_functions_python(bundle: Path) -> None:
    """Lambda cannot write __pycache__ (/var/task is read-only): without the build's .pyc files, every cold start
    would compile each module from source. The build's Python is the functions' (3.12) here, so it made them:
    one per module, hash-based and unchecked (valid whatever times the zipped files carry), nothing else."""
    tag = sys.implementation.cache_tag
    assert tag == "cpython-312", "the tests run on the functions' Python (tests/deploy/test_bundle.py)"
    modules = sorted(bundle.glob("bot/**/*.py")) + sorted(bundle.glob("handlers/**/*.py"))
    for module in modules:
        compiled = module.parent / "__pycache__" / f"{module.stem}.{tag}.pyc"
        assert compiled.is_file(), f"no byte code for {module.relative_to(bundle)}"
        assert int.from_bytes(compiled.read_bytes()[4:8], "little") == 1, f"{compiled.name}: not unchecked-hash"
    stray = [p for p in bundle.rglob("*.pyc") if not p.name.endswith(f".{tag}.pyc")]
    assert not stray, f"byte code of another Python (the build's own runs of the bundle's code): {stray}"
    assert not list((bundle / "config").rglob("__pycache__"))


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "config").glob("*.yaml")))
def test_the_function_reads_the_same_settings_from_either_form(bundle: Path, name: str) -> None:
    """The bundle's config read through its JSON form is what the repository's YAML says: the plain data,
    the ack's settings, and the validated model."""
    shipped, source = bundle / "config" / name, REPO / "config" / name
    assert json.loads(compiled_path(shipped).read_text())["settings"] == read_yaml(source)
    assert read_config_file(shipped) == read_yaml(source)
    from_json, from_yaml = {"OPSBOT_CONFIG_FILE": str(shipped)}, {"OPSBOT_CONFIG_FILE": str(source)}
    assert plain_data(from_json) == plain_data(from_yaml)
    assert Configuration(from_json).ack == Configuration(from_yaml).ack
    assert load_config(from_json) == load_config(from_yaml)
    assert AckSettings.of(load_config(from_json)) == Configuration(from_json).ack


def written(directory: Path, data: object) -> Path:
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_json_not_made_from_the_yaml_beside_it_is_never_read(tmp_path: Path) -> None:
    """Edited YAML after a build, a JSON copied from elsewhere, a truncated one: the YAML is read."""
    path = written(tmp_path, config_data())
    text = compile_config(path)
    assert text is not None
    compiled_path(path).write_text(text)
    changed = config_data(["service-a", "service-c"])
    written(tmp_path, changed)  # the YAML edited, the JSON left from before
    assert read_config_file(path) == changed
    assert Configuration({"OPSBOT_CONFIG_FILE": str(path)}).ack.service_names == ["service-a", "service-c"]
    for broken in (text[: len(text) // 2], "[]", json.dumps({"settings": config_data()})):
        compiled_path(path).write_text(broken)
        assert read_config_file(path) == changed


def test_the_build_replaces_any_json_form_already_in_the_tree(tmp_path: Path) -> None:
    """A JSON form left in config/ (made by hand, or by an older build) is not what gets shipped."""
    bundle = tmp_path / "bundle"
    for package in ("bot", "config"):
        shutil.copytree(REPO / package, bundle / package, ignore=shutil.ignore_patterns("__pycache__"))
    stale = bundle / "config" / "example.yaml.json"
    stale.write_text(json.dumps({"source_sha256": "0" * 64, "settings": {"project": "stale"}}))
    orphan = bundle / "config" / "gone.yaml.json"
    orphan.write_text("{}")
    result = subprocess.run(
        [sys.executable, str(REPO / "lambda" / "compile_config.py"), str(bundle)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert not orphan.exists()
    assert json.loads(stale.read_text())["settings"] == read_yaml(REPO / "config" / "example.yaml")


@pytest.mark.parametrize(
    "value",
    ["2024-01-01", "{1: one}", ".nan"],  # a date, a key that is not text, NaN: JSON would change them
)
def test_settings_json_cannot_carry_exactly_get_no_json_form(tmp_path: Path, value: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config_data()) + f"extra: {value}\n")
    assert compile_config(path) is None


def test_an_invalid_yaml_fails_the_build(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(REPO / "bot", bundle / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    (bundle / "config").mkdir()
    (bundle / "config" / "broken.yaml").write_text("services: [service-a\n")
    result = subprocess.run(
        [sys.executable, str(REPO / "lambda" / "compile_config.py"), str(bundle)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 1
    assert "broken.yaml is not valid YAML" in result.stderr


def test_a_cold_ack_from_the_bundle_does_not_import_pyyaml(bundle: Path) -> None:
    """Run as Lambda runs it: from the bundle's directory, OPSBOT_CONFIG_FILE as template.yaml sets it."""
    body = urllib.parse.urlencode(
        {"command": "/status", "text": "", "user_id": "U0ADMIN", "channel_id": "C0OPS", "team_id": "T0TEST"}
        | {"trigger_id": "cold", "response_url": "http://127.0.0.1:9/respond/cold"}
    )
    ack = cold_ack(
        body, ("yaml", "handlers"), config_file="config/example.yaml", code=bundle, PYTHONDONTWRITEBYTECODE="1"
    )
    assert ack.handler_file == str(bundle / "handlers" / "slack.py")
    assert ack.loaded == ["handlers"]
