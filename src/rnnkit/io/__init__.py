"""Files: safetensors checkpoints of models and training runs, and atomic writes."""
from rnnkit.io.checkpoint import load, load_checkpoint, restore_checkpoint, save, save_checkpoint

__all__ = ["save", "load", "save_checkpoint", "load_checkpoint", "restore_checkpoint"]
