"""The one exception type the CLI turns into a single ``error: ...`` line instead of a traceback."""


class UserError(Exception):
    """Bad input or an impossible request; the message names the file (if any) and the problem."""


def reason(exc: BaseException) -> str:
    """The first line of an exception's message (or its type name): short enough for one error line."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
