"""The error of invalid user input, below every module that reads one.

:class:`ConfigError` is raised for a bad config key or value, file, trace or option, with a message naming it;
the command line prints it as one line (:mod:`isac_iov.cli`).  It lives here, apart from :mod:`isac_iov.config`,
so that the modules config validation uses (:mod:`isac_iov.mobility.trace`) can raise it without importing the
config they are used by.
"""


class ConfigError(ValueError):
    """A configuration key or value is invalid; the message names the key."""
