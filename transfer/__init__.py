"""How knowledge moves from a source run to a target.

* ``simtransfer.transfer.api.transfer(sources, target, method, ...)`` — one transfer run (what ``simtransfer transfer`` does);
* ``simtransfer.transfer.methods`` — the methods (``scratch``, ``zeroshot``, ``finetune``, ``freeze``, ``features``,
  ``partial``, ``l2sp``, ``progressive``) behind one interface, by name;
* ``simtransfer.transfer.layers`` / ``simtransfer.transfer.weights`` / ``simtransfer.transfer.l2sp`` — layer addressing, loading, freezing, L2-SP;
* ``simtransfer.transfer.adapters`` — observation/action space adapters and named presets;
* ``simtransfer.transfer.metrics`` / ``simtransfer.transfer.stats`` — transfer metrics and their statistics.

Submodules are imported on use (this package imports nothing heavy), see docs/transfer.md.
"""
