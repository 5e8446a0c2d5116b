"""The command layer: one module per ``isac-iov`` sub-command.

Each module exposes ``add_arguments(parser)`` and ``main(args) -> int`` and holds only argument parsing,
input checks and printing; the work it starts lives in the library modules below it (config, scenario, env,
policies, learners, experiments).  :mod:`.options` holds the options several commands share.  Nothing outside
this package and :mod:`isac_iov.cli` imports from it.
"""
