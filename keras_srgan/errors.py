"""The one exception type the CLI turns into a single ``error: ...`` line instead of a traceback."""


class UserError(Exception):
    """Bad input or an impossible request; the message names the file (if any) and the problem.

    ``exit_code`` is what the CLI exits with (2; an interrupted run uses 128 + the signal's number).
    """

    exit_code = 2


def reason(exc: BaseException) -> str:
    """The first line of an exception's message (or its type name): short enough for one error line."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
