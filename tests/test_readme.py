"""The README's Python examples run as written (in one namespace, in order)."""
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 3
    monkeypatch.chdir(tmp_path)  # the examples write model files
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102
    assert (tmp_path / "model.onnx").is_file() and (tmp_path / "run.safetensors").is_file()
    assert namespace["clf"].score(namespace["X"], namespace["Y"][:, 0] > 0) > 0.5
