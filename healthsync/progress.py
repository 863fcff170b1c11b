"""Progress bars for long operations (backfills, the demo's population): tqdm on a terminal, plain lines else.

``tqdm`` comes with the dev extra; without it, or when the output is not a terminal (CI logs, pipes), the bar
is a no-op and only the lines written through ``bar.write`` appear.
"""

from __future__ import annotations

import shutil
from typing import TextIO

try:
    from tqdm import tqdm
except ImportError:  # pragma: no cover - tqdm is optional
    tqdm = None


class NoBar:
    """The bar's interface, doing nothing but writing lines."""

    def __init__(self, out: TextIO | None) -> None:
        self.out = out
        self.n = 0

    def update(self, k: int = 1) -> None:
        self.n += k

    def write(self, line: str, file: TextIO | None = None) -> None:
        target = file or self.out
        if target is not None:
            target.write(line if line.endswith("\n") else line + "\n")
            target.flush()

    def __enter__(self) -> NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class _Bar:
    def __init__(self, bar) -> None:  # noqa: ANN001
        self.bar = bar

    @property
    def n(self) -> int:
        return self.bar.n

    def update(self, k: int = 1) -> None:
        self.bar.update(k)

    def write(self, line: str, file: TextIO | None = None) -> None:
        self.bar.write(line.rstrip("\n"), file=self.bar.fp)

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()


def progress_bar(out: TextIO | None, total: int, desc: str) -> NoBar | _Bar:
    """A bar over ``total`` steps on ``out`` (a Django command's ``self.stdout`` works: its raw stream is used)."""
    stream = getattr(out, "_out", out)  # Django's OutputWrapper appends newlines; tqdm needs the raw stream
    tty = stream is not None and getattr(stream, "isatty", lambda: False)()
    if tqdm is None or not tty:
        return NoBar(out)
    size = shutil.get_terminal_size((100, 24))  # a terminal without a size reports 0 × 0: tqdm would hide the bar
    return _Bar(tqdm(total=total, desc=desc, file=stream, leave=True, ncols=min(size.columns, 110),
                     nrows=max(size.lines, 5), unit=""))
