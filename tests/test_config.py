"""Config loading: merge rules and one-line file:line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmeminit.analyzer.config import ConfigError, load_config


def _cfg(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kmeminit.yaml"
    path.write_text(text)
    return path


def test_default_config_loads() -> None:
    config = load_config()
    assert "-Werror" in config.get("compdb", "drop_flags")
    assert "container_of" in config.get("frontend", "macros")


def test_merge_replaces_lists_and_appends_with_plus(tmp_path: Path) -> None:
    config = load_config(_cfg(tmp_path, "frontend:\n  macros: [container_of]\n"
                                        "  section_markers+: [__my_init]\n"))
    assert config.get("frontend", "macros") == ["container_of"]
    assert config.get("frontend", "section_markers")[-1] == "__my_init"
    assert config.get("compdb", "drop_flags")  # untouched sections survive
    assert config.where("frontend", "macros").endswith("kmeminit.yaml:2")


@pytest.mark.parametrize("text, line, message", [
    ("compdb:\n  drop_flag: [x]\n", 2, "unknown key 'drop_flag'"),
    ("index:\n  tu_timeout: fast\n", 2, "'index.tu_timeout' must be of type integer or number"),
    ("index:\n  tu_timeout: true\n", 2, "must be of type"),
    ("frontend:\n  macros: [1, 2]\n", 2, "'frontend.macros' must be of type string"),
    ("frontend:\n  macros: [\n", 3, "YAML error"),
    ("index: !!python/object:os.system {}\n", 1, "not allowed"),
    ("frontend:\n  macros: !!python/name:os.system\n", 2, "not allowed"),
    ("- a\n- b\n", 1, "must be a mapping"),
    ("index:\n  tu_timeout: 1\nindex:\n  tu_timeout: 2\n", 3, "duplicate key"),
])
def test_bad_config_names_file_and_line(tmp_path: Path, text: str, line: int,
                                        message: str) -> None:
    path = _cfg(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:{line}:"), str(info.value)
    assert message in str(info.value)


def test_unreadable_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"a: \xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(bad)
