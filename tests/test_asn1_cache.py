"""The cache of compiled ASN.1 modules (v2x.asn1): a specification read from the cache encodes
and decodes every corpus message exactly as one compiled from the module's text, and a cache
that is damaged or switched off is passed over."""

from __future__ import annotations

from pathlib import Path

import asn1tools

from v2x.asn1 import ASN1_DIR, CACHE_ENV, MESSAGE_SET, cache_dir, compile_module

from tests.corpus import corpus


def _from_text() -> asn1tools.compiler.Specification:
    return asn1tools.compile_files([str(ASN1_DIR / name) for name in MESSAGE_SET], "uper")


def _cache_files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()] if directory.exists() else []


def test_a_cached_specification_codes_the_corpus_as_one_compiled_from_text(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    directory = cache_dir()
    assert directory is not None and directory.parent == tmp_path and asn1tools.__version__ in directory.name
    assert not _cache_files(directory)
    first = compile_module(MESSAGE_SET, "uper")
    assert _cache_files(directory), "the compiled module was not cached"
    cached = compile_module(MESSAGE_SET, "uper")
    assert cached is not first  # read back from the cache, not the object compiled a moment ago
    reference = _from_text()
    for msg_type, content in corpus():
        frame = reference.encode("MessageFrame", (msg_type.frame_choice, content))
        assert cached.encode("MessageFrame", (msg_type.frame_choice, content)) == frame, msg_type
        assert cached.decode("MessageFrame", frame) == reference.decode("MessageFrame", frame), msg_type


def test_a_damaged_cache_is_passed_over(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    compile_module(MESSAGE_SET, "uper")
    directory = cache_dir()
    assert directory is not None
    for path in _cache_files(directory):
        path.write_bytes(b"\x00not a cache\xff" * 64)
    spec = compile_module(MESSAGE_SET, "uper")
    msg_type, content = corpus()[0]
    assert spec.encode("MessageFrame", (msg_type.frame_choice, content)) == _from_text().encode(
        "MessageFrame", (msg_type.frame_choice, content)
    )


def test_a_cache_that_cannot_be_created_is_passed_over(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(CACHE_ENV, str(blocker))
    spec = compile_module("XiqingSecurity.asn", "oer")
    assert "Certificate" in spec.types and blocker.read_text() == "not a directory"


def test_an_empty_setting_switches_the_cache_off(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() is None
    compile_module(MESSAGE_SET, "uper")
    assert not _cache_files(tmp_path)
