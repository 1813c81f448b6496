import json
import os
import stat
import subprocess
import sys

import pytest

from edgeseg.files import Busy, atomic_path, exclusive, sha256, shown, write_json


def test_write_json_replaces_atomically(tmp_path):
    target = tmp_path / "a" / "m.json"
    write_json(target, {"x": 1})
    write_json(target, {"x": 2})
    assert json.loads(target.read_text()) == {"x": 2}
    assert [p.name for p in target.parent.iterdir()] == ["m.json"]


def test_failed_write_leaves_old_file_and_no_temp(tmp_path):
    target = tmp_path / "m.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["m.bin"]


def test_sha256_known_value(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"abc")
    assert sha256(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_written_files_honour_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = write_json(tmp_path / "m.json", {"x": 1})
        with atomic_path(tmp_path / "w.bin") as tmp:  # a library that replaces the file, as safetensors does
            tmp.unlink()
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "w.bin").stat().st_mode) == 0o666 & ~umask


def test_a_second_writer_is_refused_naming_the_owner(tmp_path):
    with exclusive(tmp_path / "run", "a training run"), pytest.raises(Busy) as caught, \
            exclusive(tmp_path / "run", "a training run"):
        pass
    assert f"process {os.getpid()} is writing a training run" in str(caught.value)
    assert "\n" not in str(caught.value)
    with exclusive(tmp_path / "run", "a training run"):  # released: free again
        pass
    assert not list(tmp_path.glob(".*.lock"))


def test_the_lock_of_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / ".run.lock").write_text(dead.stdout)
    with exclusive(tmp_path / "run", "a training run") as lock:
        assert lock.read_text() == f"{os.getpid()}\n"


def test_a_live_process_in_another_program_is_named(tmp_path):
    code = ("import sys, time; from edgeseg.files import exclusive\n"
            "with exclusive(sys.argv[1], 'a bundle'):\n    print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "b")], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(Busy, match=f"process {holder.pid} is writing a bundle"):
            exclusive(tmp_path / "b", "a bundle").__enter__()
    finally:
        holder.kill()
        holder.wait()
    with exclusive(tmp_path / "b", "a bundle"):  # killed with -9: its lock is free
        pass


def test_names_with_control_characters_are_shown_escaped():
    assert shown("a b/ç.png") == "a b/ç.png"
    assert shown("x\x1b[31m\nwrote 9 masks.png") == repr("x\x1b[31m\nwrote 9 masks.png")
