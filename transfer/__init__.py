"""How knowledge moves from a source run to a target.

* ``transfer.api.transfer(sources, target, method, ...)`` — one transfer run (what ``simtransfer transfer`` does);
* ``transfer.methods`` — the methods (``scratch``, ``zeroshot``, ``finetune``, ``freeze``, ``features``,
  ``partial``, ``l2sp``, ``progressive``) behind one interface, by name;
* ``transfer.layers`` / ``transfer.weights`` / ``transfer.l2sp`` — layer addressing, loading, freezing, L2-SP;
* ``transfer.adapters`` — observation/action space adapters and named presets;
* ``transfer.metrics`` / ``transfer.stats`` — transfer metrics and their statistics.

Submodules are imported on use (this package imports nothing heavy), see docs/transfer.md.
"""
