"""The proposal cache is ours, and may be damaged or hostile (issue 23, items 7 and 8): its
header (shape, dtype) is read before its data, anything but the N × count × 4 float32 boxes
we wrote is computed again, with a notice naming the file; a named pipe in its place is not
waited on; a search asked to stop stops within a second and caches nothing."""
from __future__ import annotations

import io
import os
import threading
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from runtime.detection import proposals as P
from runtime.detection.shapes import make_shapes_detect

N, COUNT = 4, 20


@pytest.fixture(scope="module")
def images():
    return make_shapes_detect(0, n_samples=N).fields["image"].numpy()


@pytest.fixture
def cached(images, tmp_path):
    """A good cache in tmp_path: (its file, the proposals it holds)."""
    boxes, was_cached = P.proposals_for(images, COUNT, "single", 1.0, tmp_path)
    assert not was_cached
    [f] = tmp_path.glob("selective_search_*.npz")
    return f, boxes


def npz(path: Path, header: dict | None = None, data: bytes = b"", array=None,
        compress: bool = False, name: str = "proposals.npy") -> None:
    """An .npz whose member holds `array`, or a hand-made .npy header and data."""
    buf = io.BytesIO()
    if array is not None:
        np.lib.format.write_array(buf, array, allow_pickle=False)
    else:
        np.lib.format.write_array_header_1_0(buf, header)
        buf.write(data)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) \
            as z:
        z.writestr(name, buf.getvalue())


def again(images, tmp_path):
    notes = []
    boxes, was_cached = P.proposals_for(images, COUNT, "single", 1.0, tmp_path,
                                        notice=notes.append)
    return boxes, was_cached, notes


def assert_recomputed(images, tmp_path, f, good, why: str):
    boxes, was_cached, notes = again(images, tmp_path)
    assert not was_cached and boxes.dtype == np.float32 and np.array_equal(boxes, good)
    [note] = notes
    assert note.startswith(f"the proposal cache file {f} was damaged ("), note
    assert why in note and note.endswith("): computed again"), note
    # and it was written again, good this time
    boxes, was_cached, notes = again(images, tmp_path)
    assert was_cached and not notes and np.array_equal(boxes, good)


def test_a_header_claiming_gigabytes_is_refused_before_its_data(images, tmp_path, cached):
    """3.2 GB claimed by a file of a few hundred bytes: never allocated."""
    f, good = cached
    npz(f, {"descr": "<f4", "fortran_order": False, "shape": (200_000, 1000, 4)},
        b"\0" * 4096, compress=True)
    tracemalloc.start()
    try:
        assert_recomputed(images, tmp_path, f, good, "200000 × 1000 × 4")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2 ** 20, f"{peak / 2 ** 20:.0f} MiB allocated"


@pytest.mark.parametrize("dtype", ["<U1", "V16", "bool", "<f2", "<f8", ">f4", "<i4", "|u1"])
def test_a_wrong_dtype_is_computed_again(images, tmp_path, cached, dtype):
    f, good = cached
    npz(f, array=np.zeros((N, COUNT, 4), dtype))
    assert_recomputed(images, tmp_path, f, good, f"dtype {np.dtype(dtype).str}")


def test_an_object_array_is_computed_again(images, tmp_path, cached):
    f, good = cached
    npz(f, {"descr": "|O", "fortran_order": False, "shape": (N, COUNT, 4)}, b"\x80\x04N.")
    assert_recomputed(images, tmp_path, f, good, "dtype |O")


@pytest.mark.parametrize("corner, value, why", [
    (3, np.nan, "not finite"), (0, -np.inf, "not finite"), (0, -5.0, "outside the image"),
    (3, 1e6, "outside the image")])
def test_bad_boxes_in_the_cache_are_ours_not_the_users(images, tmp_path, cached, corner, value,
                                                      why):
    f, good = cached
    bad = good.copy()
    bad[1, 2, corner] = value
    npz(f, array=bad)
    assert_recomputed(images, tmp_path, f, good, why)


def test_a_box_turned_inside_out_is_computed_again(images, tmp_path, cached):
    f, good = cached
    bad = good.copy()
    bad[0, 0] = (10, 10, 5, 12)
    npz(f, array=bad)
    assert_recomputed(images, tmp_path, f, good, "x2 < x1")


@pytest.mark.parametrize("case", ["truncated", "trailing", "fortran", "two members",
                                  "other name", "junk", "empty", "bad crc"])
def test_other_damage_is_computed_again(images, tmp_path, cached, case):
    f, good = cached
    raw = io.BytesIO()
    np.lib.format.write_array(raw, good)
    raw = raw.getvalue()
    header = {"descr": "<f4", "fortran_order": False, "shape": (N, COUNT, 4)}
    if case == "truncated":
        npz(f, header, raw[128:-16])
    elif case == "trailing":
        npz(f, header, raw[128:] + b"\0" * 16)
    elif case == "fortran":
        npz(f, {**header, "fortran_order": True}, raw[128:])
    elif case == "two members":
        npz(f, array=good)
        with zipfile.ZipFile(f, "a") as z:
            z.writestr("more.npy", raw)
    elif case == "other name":
        npz(f, array=good, name="boxes.npy")
    elif case == "junk":
        f.write_bytes(os.urandom(300))
    elif case == "empty":
        f.write_bytes(b"")
    else:
        npz(f, array=good)
        data = bytearray(f.read_bytes())
        data[200] ^= 0xFF  # inside the stored array: its CRC no longer matches
        f.write_bytes(bytes(data))
    boxes, was_cached, notes = again(images, tmp_path)
    assert not was_cached and np.array_equal(boxes, good)
    assert len(notes) == 1 and str(f) in notes[0] and "computed again" in notes[0]


def test_the_cache_we_write_is_read_back_as_written(images, tmp_path, cached):
    f, good = cached
    with zipfile.ZipFile(f) as z:
        assert z.namelist() == ["proposals.npy"]
    boxes, was_cached, notes = again(images, tmp_path)
    assert was_cached and not notes and np.array_equal(boxes, good)
    assert boxes.flags.writeable and boxes.dtype == np.float32
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_in_place_of_the_cache_is_not_waited_on(images, tmp_path, cached):
    f, good = cached
    f.unlink()
    os.mkfifo(f)
    box = {}
    t = threading.Thread(target=lambda: box.update(r=again(images, tmp_path)), daemon=True)
    t.start()
    t.join(20)
    if t.is_alive():
        os.close(os.open(f, os.O_WRONLY | os.O_NONBLOCK))  # let the blocked reader go
        pytest.fail("the cache's reader waits on a named pipe")
    boxes, was_cached, notes = box["r"]
    assert not was_cached and np.array_equal(boxes, good)
    assert notes and "not a regular file (a named pipe)" in notes[0]
    assert f.is_file()  # replaced by a good cache


def test_a_search_asked_to_stop_stops_at_once_and_caches_nothing(tmp_path):
    many = make_shapes_detect(1, n_samples=400).fields["image"].numpy()
    seen, asked = [], []

    def stop():
        if seen and seen[-1][0] >= 16 and not asked:
            asked.append(time.perf_counter())
        return bool(asked)
    with pytest.raises(P.SearchStopped):
        P.proposals_for(many, 100, "quality", 2.0, tmp_path, progress=lambda d, n:
                        seen.append((d, n)), stop=stop)
    took = time.perf_counter() - asked[0]
    assert seen[0] == (0, 400) and seen[-1][0] < 200
    assert took < 1.0, f"{took:.2f} s to stop"
    assert not list(tmp_path.iterdir())  # neither a cache nor a temporary file


def test_progress_starts_at_zero(images, tmp_path):
    seen = []
    P.proposals_for(images, COUNT, "single", 1.0, tmp_path, progress=lambda d, n:
                    seen.append((d, n)))
    assert seen[0] == (0, N) and seen[-1] == (N, N)
