"""One module per ``simtransfer`` sub-command: ``add_arguments(parser)`` and ``run(args) -> int``.

``simtransfer --help`` imports every command module, so each imports the library code it runs (torch,
SB3, pydantic behind it) inside ``run``: the library's only deliberate function-level imports.
"""
