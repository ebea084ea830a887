"""The networks of an ensemble kept as they finish, so that a killed fit resumes where it
stopped: network i goes to ``folder/<i>.safetensors`` (its weights, and its report entry in
the metadata) the moment it is trained; a store opened to ``resume`` hands back the ones
already there instead of training them again. Each network depends only on its own seed and
the data, so a resumed fit ends with the same ensemble as an uninterrupted one.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from rnnkit.io.checkpoint import load_checkpoint, save_checkpoint


class MemberStore:
    """``store.load(i)`` -> (model, report entry) or None; ``store.save(i, model, entry)``;
    ``store.clear()`` when the fit is over. ``resume`` False: nothing is loaded (a fresh
    fit overwrites what an earlier one left)."""

    def __init__(self, folder, resume: bool = False):
        self.folder, self.resume = Path(folder), resume

    def path(self, i: int) -> Path:
        return self.folder / f"{i}.safetensors"

    def load(self, i: int):
        if not self.resume or not self.path(i).is_file():
            return None
        model, extra = load_checkpoint(self.path(i))
        model.eval()
        return model, extra["training"]["report"]

    def save(self, i: int, model, entry: dict) -> None:
        save_checkpoint(self.path(i), model, training={"report": entry})

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
