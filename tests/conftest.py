"""Shared test options: --update-golden, and the opt-in real-kernel marker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite golden files from the current output (review the diff!)")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tree = os.environ.get("KMEMINIT_KERNEL_TREE")
    if tree and Path(tree, "compile_commands.json").is_file():
        return
    why = ("set KMEMINIT_KERNEL_TREE to a kernel tree prepared by scripts/prepare-kernel.sh"
           if not tree else f"KMEMINIT_KERNEL_TREE={tree} has no compile_commands.json")
    for item in items:
        if "kernel" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=why))


@pytest.fixture
def kernel_tree() -> Path:
    return Path(os.environ["KMEMINIT_KERNEL_TREE"])
