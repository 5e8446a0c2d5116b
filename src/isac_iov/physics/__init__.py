"""Pure, vectorised NumPy implementations of the paper's system model.

Each module holds one group of equations; every function works on arrays
shaped ``(envs, vehicles[, rsus])`` (any leading batch shape broadcasts) and
names the equations it implements.  Nothing here keeps state or draws random
numbers: :mod:`isac_iov.scenario` samples, :mod:`isac_iov.state` keeps the queues.
"""
