"""YAML files the engineer writes (v2x/yaml_file.py): a key written twice is refused instead of
silently keeping the last one, and every error names the file, line and column."""

from __future__ import annotations

import subprocess
import sys

import pytest

from v2x.framing.sources import SourcesError, load_sources
from v2x.scenario.model import ScenarioError, load_scenario
from v2x.yaml_file import YamlError, load_yaml

from pipeline.report.profile import ProfileError, load_profile
from pipeline.report.slices import ReceiversError, load_receivers

from tests.test_scenario import GOOD


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("a: 1\nb: 2\na: 3\n", "f.yaml, line 3, column 1: the key 'a' appears twice in one mapping (first on line 1)"),
        ("x:\n  - {k: 1, k: 2}\n", "f.yaml, line 2, column 12: the key 'k' appears twice"),
        ("1: a\n1.0: b\n", "the key 1.0 appears twice"),  # equal as YAML values
        ("a: [1,\n", "f.yaml, line 2, column 1: expected the node content"),
        ("a: b: c\n", "f.yaml, line 1, column 5: mapping values are not allowed here"),
    ],
)
def test_a_repeated_key_or_a_syntax_error_is_refused_naming_file_line_and_column(text, says):
    with pytest.raises(YamlError) as caught:
        load_yaml(text, "f.yaml")
    assert says in str(caught.value)


def test_merge_keys_may_be_overridden_as_yaml_allows():
    assert load_yaml("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\n", "f.yaml") == {
        "base": {"x": 1, "y": 2},
        "c": {"x": 1, "y": 3},
    }


def test_every_file_the_engineer_writes_is_read_strictly(tmp_path):
    scenario = tmp_path / "corridor.yaml"
    scenario.write_text(GOOD + "duration_s: 600\n")
    with pytest.raises(ScenarioError, match=rf"{scenario}, line 8, column 1: the key 'duration_s' appears twice"):
        load_scenario(scenario)
    sources = tmp_path / "sources.yaml"
    sources.write_text("sources:\n  - {topics: a, framing: bare-uper, topics: b}\n")
    with pytest.raises(SourcesError, match=rf"{sources}, line 2, column 37: the key 'topics' appears twice"):
        load_sources(sources)
    profile = tmp_path / "profile.yaml"
    profile.write_text("version: 3\nversion: 2\n")
    with pytest.raises(ProfileError, match=rf"{profile}, line 2, column 1: the key 'version' appears twice"):
        load_profile(profile)
    receivers = tmp_path / "receivers.yaml"
    receivers.write_text("- {name: a, lat: 39.1, lon: 117.1, lat: 39.2}\n")
    with pytest.raises(ReceiversError, match="the key 'lat' appears twice"):
        load_receivers(receivers)


def test_the_cli_names_the_file_of_a_broken_scenario(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: t\nduration_s: [3\n")
    proc = subprocess.run([sys.executable, "-m", "v2x.cli", "run", str(bad)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and f"{bad}, line 3, column 1" in proc.stderr and "<unicode string>" not in proc.stderr
