"""A stand-in for ``wandb`` in tests (never a network call): ``init`` appends its mode to the file named by
``FAKE_WANDB_LOG`` and, in online mode, fails like W&B without network (after its ~90 s wait, skipped here)."""

import os


class CommError(Exception):
    pass


class Settings:
    def __init__(self, **kwargs):
        self.kwargs = kwargs


class Table:
    def __init__(self, *args, **kwargs):
        pass


class Image(Table):
    pass


class Artifact(Table):
    def add_file(self, *args, **kwargs):
        pass


class _Run:
    id = "fake"

    def __init__(self):
        self.summary = {}

    def log(self, *args, **kwargs):
        pass

    def log_artifact(self, *args, **kwargs):
        pass

    def finish(self, *args, **kwargs):
        pass


def init(**kwargs):
    with open(os.environ["FAKE_WANDB_LOG"], "a") as f:
        f.write(f"{kwargs.get('mode')}\n")
    if kwargs.get("mode") == "online":
        raise CommError("Network error (ConnectionError), entering retry loop.")
    return _Run()
