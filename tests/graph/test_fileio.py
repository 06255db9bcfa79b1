"""graph.fileio: temps named by their writer's pid, cleaned when the writer is gone; folders
swapped in one step (renameat2 RENAME_EXCHANGE), or recovered when a kill fell between the two
renames of the fallback. Plain pytest: no torch, no Qt."""
import ctypes
import errno
import os
import subprocess
import sys
import time

import pytest

import graph.fileio as fio
from graph.fileio import atomic_folder, atomic_write_bytes, clean_stale, recover_folder

LINUX = sys.platform.startswith("linux")


@pytest.fixture(scope="module")
def dead_pid():
    """The pid of a process that has exited (and been reaped)."""
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


@pytest.fixture
def live_pid():
    p = subprocess.Popen(["sleep", "30"])
    time.sleep(0.05)  # its start time is behind us now
    yield p.pid
    p.kill()
    p.wait()


def touch(path, age: float = 0.0, folder: bool = False):
    if folder:
        path.mkdir()
        (path / "weights.bin").write_bytes(b"x" * 100)
    else:
        path.write_bytes(b"partial")
    if age:
        t = time.time() - age
        os.utime(path, (t, t))
    return path


def names(folder):
    return sorted(os.listdir(folder))


def test_stale_temps_go_live_ones_and_unrelated_files_stay(tmp_path, dead_pid, live_pid):
    me = os.getpid()
    target = tmp_path / "model.json"
    target.write_text("{}")
    stale = [touch(tmp_path / f".model.json.{dead_pid}.a1b2c3d4.tmp"),  # killed writer
             touch(tmp_path / f".model.json.{me}.zzzzzzzz.tmp", age=3600),  # our pid, reused
             touch(tmp_path / f".model.json.{live_pid}.q_q_q_q_.tmp", age=3600),  # reused
             touch(tmp_path / ".model.json.k3j4h5g6.tmp", age=3600)]  # no pid, before us
    live = [touch(tmp_path / f".model.json.{me}.abcdefgh.tmp"),  # ours, being written
            touch(tmp_path / f".model.json.{live_pid}.abcdefgh.tmp"),  # another live writer
            touch(tmp_path / ".model.json.fresh123.tmp")]  # no pid, but younger than us
    unrelated = [touch(tmp_path / n, age=3600) for n in (
        ".model.json.swp", ".model.json.old", ".model.json.bak.tmp", "model.json.bak",
        f"model.json.{dead_pid}.a1b2c3d4.tmp",  # not a dot-file
        f".model.json.{dead_pid}.abc.tmp",  # not tempfile's 8 characters
        f".model.json.{dead_pid}.ABCDEFGH.tmp",
        f".model.jsonx.{dead_pid}.a1b2c3d4.tmp",  # another file's temp
        f".other.json.{dead_pid}.a1b2c3d4.tmp", f".model.{dead_pid}.a1b2c3d4.tmp",
        ".bashrc", ".model.json")]
    removed = clean_stale(target)
    assert sorted(removed) == sorted(stale)
    left = set(names(tmp_path))
    assert left == {"model.json"} | {p.name for p in live + unrelated}
    assert target.read_text() == "{}"


def test_stale_temp_folders_go_with_their_contents(tmp_path, dead_pid):
    last = tmp_path / "last"
    touch(tmp_path / f".last.{dead_pid}.x7y8z9w0", folder=True)
    touch(tmp_path / ".last.oldstyle", age=3600, folder=True)  # the scheme before: no pid
    keep = touch(tmp_path / f".last.{os.getpid()}.x7y8z9w0", folder=True)
    touch(tmp_path / f".best.{dead_pid}.x7y8z9w0", folder=True)  # best's, not last's
    clean_stale(last)
    assert names(tmp_path) == [f".best.{dead_pid}.x7y8z9w0", keep.name]
    clean_stale(tmp_path / "best")
    assert names(tmp_path) == [keep.name]


def test_special_characters_in_the_name(tmp_path, dead_pid):
    target = tmp_path / "a+b (1)[x].json"
    touch(tmp_path / f".a+b (1)[x].json.{dead_pid}.abcdefgh.tmp")
    touch(tmp_path / f".aab (1)[x].json.{dead_pid}.abcdefgh.tmp")  # '+' is not a pattern
    clean_stale(target)
    assert names(tmp_path) == [f".aab (1)[x].json.{dead_pid}.abcdefgh.tmp"]


@pytest.mark.skipif(not LINUX, reason="zombies are read from /proc")
def test_an_unreaped_killed_writer_is_gone(tmp_path):
    p = subprocess.Popen(["sleep", "30"])
    try:
        time.sleep(0.05)
        temp = touch(tmp_path / f".model.json.{p.pid}.abcdefgh.tmp")
        clean_stale(tmp_path / "model.json")
        assert temp.exists()  # its writer runs
        p.kill()
        deadline = time.time() + 5
        while fio._linux_proc(p.pid)[0] != "Z" and time.time() < deadline:
            time.sleep(0.01)
        clean_stale(tmp_path / "model.json")  # a zombie writes nothing more
        assert not temp.exists()
    finally:
        p.kill()
        p.wait()


def test_write_cleans_first_and_names_its_temp_with_the_pid(tmp_path, dead_pid, monkeypatch):
    target = tmp_path / "model.json"
    touch(tmp_path / f".model.json.{dead_pid}.a1b2c3d4.tmp")
    touch(tmp_path / ".model.json.a1b2c3d4.tmp", age=3600)
    seen = []
    real = os.replace
    monkeypatch.setattr(fio.os, "replace", lambda a, b: (seen.append(os.path.basename(a)),
                                                         real(a, b)))
    atomic_write_bytes(target, b"new")
    assert names(tmp_path) == ["model.json"] and target.read_bytes() == b"new"
    [tmp] = seen
    assert tmp.startswith(f".model.json.{os.getpid()}.") and tmp.endswith(".tmp")
    assert fio._patterns("model.json")[0].fullmatch(tmp)


def test_atomic_folder_cleans_first(tmp_path, dead_pid):
    last = tmp_path / "last"
    touch(tmp_path / f".last.{dead_pid}.a1b2c3d4", folder=True)
    touch(tmp_path / ".last.zz9zz9zz", age=3600, folder=True)  # the old scheme's temp
    with atomic_folder(last) as tmp:
        assert tmp.name.startswith(f".last.{os.getpid()}.")
        (tmp / "a").write_text("1")
    assert names(tmp_path) == ["last"] and (last / "a").read_text() == "1"


# The moved-aside folder -----------------------------------------------------------------------

def test_old_folder_is_put_back_when_the_new_one_never_arrived(tmp_path, dead_pid):
    last = tmp_path / "last"
    old = touch(tmp_path / ".last.old", folder=True)  # killed after last -> .last.old
    touch(tmp_path / f".last.{dead_pid}.a1b2c3d4", folder=True)  # ... before tmp -> last
    recover_folder(last)
    assert names(tmp_path) == ["last"] and (last / "weights.bin").is_file()
    assert not old.exists()


def test_old_folder_beside_the_new_one_is_removed(tmp_path):
    last = touch(tmp_path / "last", folder=True)
    touch(tmp_path / ".last.old", folder=True)  # killed while removing the old one
    recover_folder(last)
    assert names(tmp_path) == ["last"]


def test_a_live_writers_old_folder_is_left_alone(tmp_path):
    last = tmp_path / "last"
    touch(tmp_path / ".last.old", folder=True)
    touch(tmp_path / f".last.{os.getpid()}.a1b2c3d4", folder=True)  # between its renames
    recover_folder(last)
    assert names(tmp_path) == sorted([".last.old", f".last.{os.getpid()}.a1b2c3d4"])


def test_next_write_recovers_before_it_swaps(tmp_path, monkeypatch):
    last = tmp_path / "last"
    with atomic_folder(last) as tmp:
        (tmp / "v").write_text("1")
    os.replace(last, tmp_path / ".last.old")  # the state a kill between the renames leaves
    monkeypatch.setattr(fio, "exchange", lambda a, b: False)
    with atomic_folder(last) as tmp:
        assert (last / "v").read_text() == "1"  # back in place while the new one is filled
        (tmp / "v").write_text("2")
    assert names(tmp_path) == ["last"] and (last / "v").read_text() == "2"


# The swap -------------------------------------------------------------------------------------

needs_exchange = pytest.mark.skipif(not (LINUX and fio._libc_renameat2()),
                                    reason="renameat2 is Linux's (glibc >= 2.28)")


@needs_exchange
def test_exchange_swaps_two_paths_in_one_step(tmp_path):
    a, b = touch(tmp_path / "a", folder=True), tmp_path / "b"
    b.write_text("file")
    assert fio.exchange(a, b)
    assert b.is_dir() and (b / "weights.bin").is_file() and a.read_text() == "file"
    with pytest.raises(FileNotFoundError):
        fio.exchange(a, tmp_path / "none")


@needs_exchange
def test_atomic_folder_never_leaves_the_path_missing(tmp_path, monkeypatch):
    last = tmp_path / "last"
    with atomic_folder(last) as tmp:
        (tmp / "v").write_text("1")
    moves = []
    real = os.replace
    monkeypatch.setattr(fio.os, "replace", lambda a, b: (moves.append((a, b)), real(a, b)))
    with atomic_folder(last) as tmp:
        (tmp / "v").write_text("2")
    assert moves == []  # one exchange, no rename of `last` away
    assert names(tmp_path) == ["last"] and (last / "v").read_text() == "2"


@pytest.mark.parametrize("code", [errno.EINVAL, errno.ENOSYS])
def test_without_exchange_two_renames_do(tmp_path, monkeypatch, code):
    def unsupported(*args):  # a filesystem (or kernel) without RENAME_EXCHANGE
        ctypes.set_errno(code)
        return -1
    monkeypatch.setattr(fio, "_renameat2", unsupported)
    last = tmp_path / "last"
    for v in "12":
        with atomic_folder(last) as tmp:
            (tmp / "v").write_text(v)
    assert names(tmp_path) == ["last"] and (last / "v").read_text() == "2"


def test_failed_block_leaves_the_old_folder(tmp_path):
    last = tmp_path / "last"
    with atomic_folder(last) as tmp:
        (tmp / "v").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_folder(last) as tmp:
            (tmp / "v").write_text("2")
            raise RuntimeError("disk full")
    assert names(tmp_path) == ["last"] and (last / "v").read_text() == "1"


def test_failure_between_the_two_renames_puts_the_old_folder_back(tmp_path, monkeypatch):
    last = tmp_path / "last"
    with atomic_folder(last) as tmp:
        (tmp / "v").write_text("1")
    monkeypatch.setattr(fio, "exchange", lambda a, b: False)
    real = os.replace

    failed = []

    def second_fails(a, b):  # the rename of the new folder in (once; putting back works)
        if os.path.basename(b) == "last" and not failed:
            failed.append(a)
            raise KeyboardInterrupt
        real(a, b)
    monkeypatch.setattr(fio.os, "replace", second_fails)
    with pytest.raises(KeyboardInterrupt):
        with atomic_folder(last) as tmp:
            (tmp / "v").write_text("2")
    assert failed
    assert names(tmp_path) == ["last"] and (last / "v").read_text() == "1"


def test_atomic_folder_gets_the_mode_mkdir_would_give(tmp_path):
    """mkdtemp makes 0700 folders: checkpoints and bundles were unreadable to the group."""
    import os
    umask = os.umask(0o022)
    os.umask(umask)
    with fio.atomic_folder(tmp_path / "ck") as tmp:
        (tmp / "a.txt").write_text("x")
    assert (tmp_path / "ck").stat().st_mode & 0o777 == 0o777 & ~umask
    assert fio.new_file_mode(tmp_path / "new.txt") == 0o666 & ~umask
    assert fio.new_file_mode(tmp_path / "ck" / "a.txt") == (tmp_path / "ck" / "a.txt").stat().st_mode & 0o777
