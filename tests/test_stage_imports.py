"""The stages ``v2x run`` starts import the installed package, whatever folder it runs in."""

from __future__ import annotations

from v2x.run import _spawn


def test_a_stage_does_not_import_a_package_of_the_current_folder(tmp_path, monkeypatch):
    """From a source checkout next to a regular install, the checkout has no compiled
    extension: a stage that imported it instead of the install failed to start."""
    shadow = tmp_path / "vehicles"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("")
    (shadow / "__main__.py").write_text("print('the folder, not the install')\n")
    monkeypatch.chdir(tmp_path)
    proc = _spawn(["-m", "vehicles", "--help"], tmp_path / "stage.log")
    out, _ = proc.communicate(timeout=120)
    assert b"the folder, not the install" not in out
    assert proc.returncode == 0, (tmp_path / "stage.log").read_text()[-2000:]
