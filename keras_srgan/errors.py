"""The one exception type the CLI turns into a single ``error: ...`` line instead of a traceback."""


class UserError(Exception):
    """Bad input or an impossible request; the message names the file (if any) and the problem."""
