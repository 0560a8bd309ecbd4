"""One module per ``simtransfer`` sub-command: ``add_arguments(parser)`` and ``run(args) -> int``."""
