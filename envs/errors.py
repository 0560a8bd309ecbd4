"""One exception type for every user-facing mistake.

The CLI turns a :class:`SimtransferError` into a one-line message and exit code 2, so raise it
(never a bare ``ValueError``) when the user gave bad input: unknown env id, malformed YAML,
mismatched spaces, corrupt checkpoint, ...
"""

from __future__ import annotations


class SimtransferError(Exception):
    """A user-facing error; its message is printed on one line by the CLI."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))
