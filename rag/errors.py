"""One base class for every error a user can cause or fix, so shells print one line, not a traceback."""


class RagError(Exception):
    """A problem worth a clear one-line message: bad input, a missing model, a damaged index."""
