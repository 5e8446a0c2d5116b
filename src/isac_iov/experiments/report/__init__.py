"""The Markdown report of a reproduction, from saved results only.

Reads ``DIR/results/*.json`` (written by ``isac-iov reproduce``), draws every
figure into ``DIR/figures/`` and writes ``DIR/report.md`` (:func:`write_report`):
a summary table of the paper's claims against ours with a verdict, then one
section per table or figure with the paper's numbers next to ours (mean over
seeds, 95 % bootstrap CI, IQM), and the reasons for differences that we know.

The report is data: every paper number comes from :mod:`isac_iov.experiments.paper`, every curve a
figure draws from the experiment's declaration (:data:`isac_iov.experiments.specs.CURVES`), and
each experiment is reported by one :class:`~.render.Part` whose body returns a
:class:`~.render.Section` (its Markdown and its summary claims).  Items whose
results are missing are listed as "not run" by :func:`~.render.render`, never
silently dropped.

* :mod:`.render`: parts, sections and the helpers every section uses;
* :mod:`.table3`, :mod:`.figures`, :mod:`.beyond`: the sections of Table III, of Figs. 4 to 7 and of the
  experiments beyond the paper;
* :mod:`.document`: the whole report, its parts in order (:data:`PARTS`);
* :mod:`.readme`: the README's Table III block (:func:`update_readme`).
"""

from __future__ import annotations

from .document import PARTS, REPORT_FILE, write_report
from .readme import README_MARKERS, readme_parts, readme_table3, update_readme

__all__ = ["PARTS", "README_MARKERS", "REPORT_FILE", "readme_parts", "readme_table3", "update_readme", "write_report"]
