"""The exit codes of every ``vtac`` sub-command, in one place: 3 always means "a retry may help"."""

from enum import IntEnum


class ExitCode(IntEnum):
    """What a sub-command's exit status tells the caller (an operator, a script, a scheduler)."""

    OK = 0
    #: An unexpected failure (a bug): one line says so, ``-v`` gives the traceback.
    INTERNAL = 1
    #: A bad input, option or setting: the same call fails the same way until it is fixed.
    BAD_INPUT = 2
    #: An external service failed (or every catalogue did, the products being unverified): retrying may help.
    RETRY = 3
