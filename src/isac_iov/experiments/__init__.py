"""Reproduction of the paper's Section VII: experiment specs, a resumable runner (local pool or Ray),
statistics over seeds, saved results, figures and a Markdown report.

Entry points: ``isac-iov reproduce`` (:mod:`isac_iov.commands.reproduce`) and ``isac-iov report``
(:mod:`isac_iov.commands.report`).
"""
