"""--executor dask: TU indexing on a Dask cluster gives the facts local workers give."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmeminit.analyzer.compdb import open_compdb
from kmeminit.analyzer.config import load_config
from kmeminit.analyzer.index import index_entries
from kmeminit.analyzer.model import replace
from kmeminit.analyzer.store import FactStore
from tests.helpers import EXAMPLE, example_compdb

distributed = pytest.importorskip(
    "distributed", reason="dask.distributed is not installed (pip install 'kmeminit[dask]')")


@pytest.fixture(scope="module")
def cluster():  # type: ignore[no-untyped-def]
    with distributed.LocalCluster(n_workers=3, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as c:
        yield c


@pytest.fixture(scope="module")
def compdb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return example_compdb(tmp_path_factory.mktemp("compdb"))


@pytest.fixture(scope="module")
def entries(compdb: Path) -> list:
    return open_compdb(compdb, load_config(), source_root=str(EXAMPLE)).entries


def _facts(store: FactStore) -> tuple[dict, dict]:
    tus = {tu.file: replace(tu, parse_seconds=0.0) for tu in store.iter_tus()}
    headers = {fn.usr: fn for fn in store.header_functions()}
    return tus, headers


def test_dask_gives_the_facts_of_local_workers(cluster, entries: list, tmp_path: Path
                                               ) -> None:  # type: ignore[no-untyped-def]
    config = load_config()
    local = FactStore(tmp_path / "local.db")
    stats = index_entries(entries, local, config, jobs=2, timeout=60)
    assert stats.failed == 0
    remote = FactStore(tmp_path / "dask.db")
    stats = index_entries(entries, remote, config, jobs=1, timeout=60,
                          scheduler=cluster.scheduler_address)
    assert (stats.parsed, stats.failed) == (len(entries), 0), stats.notifications
    assert _facts(remote) == _facts(local)
    assert remote.counts() == local.counts()
    assert sorted(c.file for c in remote.commands()) == sorted(e.file for e in entries)
    # and the store is current afterwards: a rerun parses nothing, locally or remotely
    again = index_entries(entries, remote, config, jobs=1, timeout=60,
                          scheduler=cluster.scheduler_address)
    assert (again.parsed, again.cached) == (0, len(entries))


def test_cli_executor_dask(cluster, compdb: Path, entries: list, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    from kmeminit.analyzer.cli import main

    rc = main(["index", "-p", str(compdb), "--source-root", str(EXAMPLE),
               "--store", str(tmp_path / "cli.db"), "--executor", "dask", "--scheduler",
               cluster.scheduler_address, "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 0, err
    n = len(entries)
    assert f"{n} TUs: {n} parsed, 0 from cache, 0 parsed with errors, 0 failed" in err


def test_executor_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    from kmeminit.analyzer.cli import main

    assert main(["index", "-p", str(EXAMPLE), "--executor", "dask"]) == 2
    assert "--scheduler" in capsys.readouterr().err
    assert main(["index", "-p", str(EXAMPLE), "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "--executor dask" in capsys.readouterr().err
