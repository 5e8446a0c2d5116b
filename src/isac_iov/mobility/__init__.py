"""Vehicle mobility beyond the built-in straight road (docs/model.md#mobility).

* :mod:`~isac_iov.mobility.trace`: the trace file (``.npz``), its validation and its vectorised replay; NumPy
  only, so the default install replays traces without SUMO.
* :mod:`~isac_iov.mobility.record`: records a trace with Eclipse SUMO through libsumo (the ``sumo`` extra,
  imported only when a trace is recorded).
* :mod:`~isac_iov.mobility.plot`: the road network, the RSUs with their coverage and a few vehicle tracks.

The command ``isac-iov mobility {record,plot}`` is :mod:`isac_iov.commands.mobility`.
"""
