"""One base class for every error a user can cause or fix, so shells print one line, not a traceback."""


class RagError(Exception):
    """A problem worth a clear one-line message: bad input, a missing model, a damaged index."""


def first_line(error: BaseException) -> str:
    """The first line of an error's message ("" when it has none): libraries' messages run long."""
    text = str(error)
    return text.splitlines()[0] if text else ""
