"""Progress a CI log can read: heartbeat lines without a terminal, a bar on one, a line
per rule for the rule phase, nothing with --no-progress."""

from __future__ import annotations

import io
import json

import pytest

from kmeminit.analyzer.cli import main
from kmeminit.analyzer.index_task import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_heartbeat_every_ten_seconds_or_tenth() -> None:
    out, clock = io.StringIO(), Clock()
    bar = Progress(2790, True, stream=out, clock=clock)
    for i in range(812):
        clock.now += 0.05  # 20 TUs a second: a tenth (279) takes 14 s, so time wins
        bar.step(f"mm/f{i}.c", failed=i in (3, 400, 700))
    lines = out.getvalue().splitlines()
    assert len(lines) == 4  # at 10, 20, 30 and 40 s
    assert lines[-1] == "kmeminit: indexed 801/2,790 TUs, 3 failed, ETA 2 min"
    assert all(line.startswith("kmeminit: indexed ") for line in lines)


def test_heartbeat_at_each_tenth_when_fast_but_never_in_a_burst() -> None:
    out, clock = io.StringIO(), Clock()
    bar = Progress(100, True, stream=out, clock=clock)
    for i in range(100):
        clock.now += 0.5
        bar.step(str(i))
    lines = out.getvalue().splitlines()
    # a tenth every 5 s; the last step is the caller's summary line, not a heartbeat
    assert [line.split()[2] for line in lines] == [f"{n}/100" for n in range(10, 100, 10)]
    out, clock = io.StringIO(), Clock()
    bar = Progress(100, True, stream=out, clock=clock)
    for i in range(100):
        clock.now += 0.01
        bar.step(str(i))
    assert out.getvalue() == ""  # one second in all: the summary says it


def test_disabled_and_terminal() -> None:
    out = io.StringIO()
    bar = Progress(10, False, stream=out)
    bar.begin("KMI001")
    bar.step("a")
    assert out.getvalue() == "" and bar.bar is None

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    bar = Progress(3, True, stream=tty)
    bar.step("mm/a.c", failed=True)
    bar.bar.refresh()  # tqdm redraws at most every 0.1 s by itself
    bar.close()
    assert "1/3" in tty.getvalue() and "1 failed, a.c" in tty.getvalue()


def test_rule_phase_lines_in_a_log(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    (src / "mm").mkdir(parents=True)
    (src / "mm" / "a.c").write_text("int f(void) { return 0; }\n")
    (src / "compile_commands.json").write_text(json.dumps(
        [{"directory": str(src), "file": "mm/a.c", "arguments": ["gcc", "-c", "mm/a.c"]}]))
    assert main(["check", "-p", str(src), "--rules", "KMI001,KMI003",
                 "--store", str(tmp_path / "f.db")]) == 0
    err = capsys.readouterr().err
    assert "kmeminit: running KMI001 online-before-init (1/2)" in err
    assert "kmeminit: running KMI003 pfn-walker-uninit-memmap (2/2)" in err
    assert main(["check", "-p", str(src), "--rules", "KMI001", "--no-progress",
                 "--store", str(tmp_path / "f.db")]) == 0
    assert "running" not in capsys.readouterr().err
