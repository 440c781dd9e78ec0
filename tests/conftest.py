"""Shared test options: --update-golden, and the opt-in real-kernel marker."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    # kmeminit's cache (the parsed config) in a directory of this session, for the tests'
    # subprocesses too: never the user's ~/.cache
    os.environ["KMEMINIT_CACHE"] = tempfile.mkdtemp(prefix="kmeminit-cache-")


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(os.environ.pop("KMEMINIT_CACHE", ""), ignore_errors=True)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite golden files from the current output (review the diff!)")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


# marker -> (variable naming the prepared tree, how to prepare one)
_TREES = {"kernel": ("KMEMINIT_KERNEL_TREE", "scripts/prepare-kernel.sh"),
          "arm64": ("KMEMINIT_ARM64_TREE", "ARCH=arm64 scripts/prepare-kernel.sh")}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for marker, (variable, script) in _TREES.items():
        tree = os.environ.get(variable)
        if tree and Path(tree, "compile_commands.json").is_file():
            continue
        why = (f"set {variable} to a kernel tree prepared by {script}" if not tree
               else f"{variable}={tree} has no compile_commands.json")
        for item in items:
            if item.get_closest_marker(marker) is not None:
                item.add_marker(pytest.mark.skip(reason=why))


# The slice issue #2 names, plus lib/test_hmm.c (the in-tree dev_pagemap_ops.page_free user).
KERNEL_SLICE = ["mm/", "fs/proc/", "drivers/base/memory.c", "arch/x86/mm/", "drivers/dax/",
                "drivers/nvdimm/", "kernel/resource.c", "lib/test_hmm.c"]


@pytest.fixture(scope="session")
def kernel_tree() -> Path:
    return Path(os.environ["KMEMINIT_KERNEL_TREE"])


@pytest.fixture(scope="session")
def kernel_store(kernel_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 6.12 slice indexed once per session (KMEMINIT_KERNEL_STORE keeps the store
    between sessions, so only changed TUs are reparsed)."""
    from kmeminit.analyzer.compdb import open_compdb
    from kmeminit.analyzer.config import load_config
    from kmeminit.analyzer.index import index_entries
    from kmeminit.analyzer.store import FactStore

    config = load_config()
    selected = open_compdb(kernel_tree, config, KERNEL_SLICE).entries
    store_path = Path(os.environ.get("KMEMINIT_KERNEL_STORE")
                      or tmp_path_factory.mktemp("store") / "facts.db")
    store = FactStore(store_path)
    stats = index_entries(selected, store, config, jobs=os.cpu_count() or 1, timeout=300)
    store.close()
    assert stats.failed == 0, [n.message for n in stats.notifications]
    assert stats.selected > 150
    return store_path


@pytest.fixture(scope="session")
def kernel_program(kernel_tree: Path, kernel_store: Path):
    from kmeminit.analyzer.compdb import open_compdb
    from kmeminit.analyzer.config import load_config
    from kmeminit.analyzer.program import Program
    from kmeminit.analyzer.store import FactStore

    selected = open_compdb(kernel_tree, load_config(), KERNEL_SLICE).entries
    return Program.from_store(FactStore(kernel_store), [e.file for e in selected])


SARIF_SCHEMA = REPO / "tests" / "schemas" / "sarif-2.1.0-rtm.5.json"


@pytest.fixture(scope="session")
def sarif_validator():  # type: ignore[no-untyped-def]
    import json

    import jsonschema

    return jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text(encoding="utf-8")))


@pytest.fixture(autouse=True)
def _every_sarif_is_valid(monkeypatch: pytest.MonkeyPatch, sarif_validator) -> None:  # type: ignore[no-untyped-def]
    """Every SARIF log the suite produces in-process is validated against the schema: all
    writers (to_sarif, the CLI) go through sarif.writer.build_sarif."""
    import kmeminit.sarif.writer as writer

    real = writer.build_sarif

    def checked(*args, **kwargs):  # type: ignore[no-untyped-def]
        sarif = real(*args, **kwargs)
        sarif_validator.validate(sarif.log)
        return sarif

    monkeypatch.setattr(writer, "build_sarif", checked)
