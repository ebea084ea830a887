"""The networks of an ensemble kept as they finish, so that a killed fit resumes where it
stopped: network i goes to ``folder/<i>.safetensors`` (its weights, and its report entry in
the metadata) the moment it is trained; a store opened to ``resume`` hands back the ones
already there instead of training them again. Each network depends only on its own seed and
the data, so a resumed fit ends with the same ensemble as an uninterrupted one. The probe's
verdict (``rnnkit.train.classifier.probe_kinds``) is kept too (``folder/probe.json``): a
resumed fit builds the ensemble it decided on, even where another BLAS thread count would
have trained the probe's networks to another verdict.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from rnnkit.io.checkpoint import load_checkpoint, save_checkpoint
from rnnkit.io.files import atomic_write_text


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

    def load_probe(self):
        """The probe's result saved by an interrupted fit, or None."""
        path = self.folder / "probe.json"
        return json.loads(path.read_text()) if self.resume and path.is_file() else None

    def save_probe(self, result: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.folder / "probe.json", json.dumps(result))

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
