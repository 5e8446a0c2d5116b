"""The README's Table III block, rewritten from a reproduction's results (``isac-iov report --readme``)."""

from __future__ import annotations

from pathlib import Path

from ...rundir import write_atomic
from ..results import RESULTS, load
from .table3 import table3_body

README_MARKERS = ("<!-- table3:begin -->", "<!-- table3:end -->")
"""The README block that :func:`update_readme` rewrites with a reproduction's Table III."""


def readme_table3(out_dir: Path) -> str:
    """Table III of the reproduction in ``out_dir`` as the README shows it: the report's section body."""
    res = load(Path(out_dir), "table3")
    if res is None:
        raise FileNotFoundError(f"{Path(out_dir) / RESULTS} holds no table3 result: run `isac-iov reproduce table3`")
    return table3_body(res).text


def update_readme(out_dir: Path, readme: Path) -> None:
    """Replace the text between :data:`README_MARKERS` in ``readme`` by :func:`readme_table3`."""
    head, tail = readme_parts(readme.read_text(), readme)
    write_atomic(readme, f"{head}{README_MARKERS[0]}\n{readme_table3(out_dir)}\n{README_MARKERS[1]}{tail}")


def readme_parts(text: str, readme: Path) -> tuple[str, str]:
    """The text before the begin marker and after the end marker; one line naming the file if either is missing."""
    begin, end = README_MARKERS
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise ValueError(f"{readme} must hold the lines {begin} and {end} once each, in this order")
    return text[: text.index(begin)], text[text.index(end) + len(end) :]
