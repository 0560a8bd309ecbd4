"""One exception type for every user-facing mistake, and one way to turn a pydantic error into it.

The CLI turns a :class:`SimtransferError` into a one-line message and exit code 2, so raise it
(never a bare ``ValueError``) when the user gave bad input: unknown env id, malformed YAML,
mismatched spaces, corrupt checkpoint, ...

>>> from pydantic import BaseModel, ConfigDict, ValidationError
>>> class Spec(BaseModel):
...     model_config = ConfigDict(extra="forbid")
...     low: float = 0.0
>>> try:
...     Spec(low="a lot", hihg=2)
... except ValidationError as exc:
...     print(validation_error(exc, "bad spec"))
bad spec: low: Input should be a valid number, unable to parse string as a number (got 'a lot')
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pydantic stays out of `import simtransfer.envs.errors` (the CLI imports this first)
    from pydantic import ValidationError


class SimtransferError(Exception):
    """A user-facing error; its message is printed on one line by the CLI."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


def validation_error(exc: ValidationError, source: str, *, prefix: str = "", hint: str = "") -> SimtransferError:
    """``{source}: {prefix}{key}: {what is wrong}[ (got VALUE)][ (hint)]`` for the first error in ``exc``.

    The one conversion of a pydantic ``ValidationError`` to a user-facing line: an extra key reads
    ``unknown key``, a missing one ``required key is missing``, a validator's ``Value error, `` prefix is dropped
    and a bad scalar is quoted. Raise the result ``from None``.
    """
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        msg = "unknown key"
    elif kind == "missing":
        msg = "required key is missing"
    else:
        msg = msg.removeprefix("Value error, ")
        got = err.get("input")
        if isinstance(got, (str, int, float, bool)) and f"{got!r}" not in msg:
            msg = f"{msg} (got {got!r})"
    return SimtransferError(f"{source}: {prefix}{loc}: {msg}" + (f" ({hint})" if hint else ""))
