"""rnnkit 0.1's module paths still import, as the new modules, with a DeprecationWarning."""
import importlib
import sys

import pytest

import rnnkit
from rnnkit.moved import MOVED


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_path_is_the_new_module(old):
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {MOVED[old]}"):
        module = importlib.import_module(old)
    assert module is importlib.import_module(MOVED[old])


def test_old_names_are_the_same_objects():
    sys.modules.pop("rnnkit.trainer", None)
    sys.modules.pop("rnnkit.models", None)
    with pytest.warns(DeprecationWarning):
        from rnnkit.trainer import Trainer  # noqa: PLC0415
        from rnnkit.models import SequenceModel  # noqa: PLC0415
    assert Trainer is rnnkit.Trainer and SequenceModel is rnnkit.SequenceModel


def test_no_module_inside_rnnkit_uses_an_old_path():
    from test_layout import imports_of, module_files

    files = module_files()
    known = set(files) | set(MOVED)  # an old path is seen as itself, not as its parent
    for name, path in files.items():
        assert not imports_of(name, path, known) & set(MOVED), name
