"""Atomic writes: the file's mode follows the umask, and the temporary file of a killed save
is removed by the next save of the same file."""
import os
import subprocess
import sys

from rnnkit.io.files import atomic_write_bytes


def test_written_files_respect_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "a.bin", b"x")
        os.umask(0o077)
        atomic_write_bytes(tmp_path / "b.bin", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.bin").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "b.bin").stat().st_mode & 0o777 == 0o600


def test_a_stale_temporary_file_is_removed_by_the_next_save(tmp_path):
    # a save killed half-way: a process that has exited left its temporary file
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stale = tmp_path / f".model.safetensors.{dead.stdout.strip()}.abc123.tmp"
    stale.write_bytes(b"\0" * 1000)
    alive = tmp_path / f".model.safetensors.{os.getppid()}.abc123.tmp"  # a running writer
    alive.write_bytes(b"\0")
    other = tmp_path / f".other.{dead.stdout.strip()}.abc123.tmp"  # another file's
    other.write_bytes(b"\0")
    atomic_write_bytes(tmp_path / "model.safetensors", b"new")
    assert not stale.exists() and alive.exists() and other.exists()
    assert (tmp_path / "model.safetensors").read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [alive.name, other.name, "model.safetensors"])


def test_sigterm_during_a_save_removes_the_temporary_file(tmp_path):
    script = f"""
import os, sys, time
from rnnkit.cli import exit_on_sigterm
from rnnkit.io.files import atomic_write_bytes
exit_on_sigterm()
os.fsync = lambda fd: (print("writing", flush=True), time.sleep(60))  # a slow disk
atomic_write_bytes({str(tmp_path / "model.safetensors")!r}, b"x" * 10_000_000)
"""
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                          text=True) as p:
        assert p.stdout.readline().strip() == "writing"
        assert [q.suffix for q in tmp_path.iterdir()] == [".tmp"]
        p.terminate()
        assert p.wait(timeout=30) == 143
    assert list(tmp_path.iterdir()) == []
