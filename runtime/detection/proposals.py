"""Region proposals by selective search (Uijlings et al.), the first stage of R-CNN and Fast
R-CNN: OpenCV's implementation (opencv-contrib-python-headless, cv2.ximgproc.segmentation).

Proposals are a step of the data pipeline: computed once per image set and setting, cached
in an .npz keyed by the images' bytes and the settings, and read back on every later run.
Each image's proposals are a P × 4 block (x1, y1, x2, y2) padded with zero rows.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
import zipfile
import zlib
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Callable

import numpy as np

MODES = ("fast", "quality", "single")
VERSION = 2  # of what the cache holds: bump when the computation changes


class ProposalError(Exception):
    pass


def _cv2():
    try:
        import cv2
        cv2.ximgproc.segmentation.createSelectiveSearchSegmentation
    except (ImportError, AttributeError):
        raise ProposalError("selective search needs OpenCV's contrib modules: pip install "
                            "opencv-contrib-python-headless (and no other opencv package "
                            "beside it)") from None
    return cv2


def selective_search(image: np.ndarray, mode: str = "fast", scale: float = 1.0,
                     min_size: float = 2.0, seed: int = 0) -> np.ndarray:
    """An image's proposals, K × 4 float32 (x1, y1, x2, y2), ranked.
    `image` is H × W × 3 uint8 (RGB); `scale` enlarges it first (small images give few
    regions); boxes with a side under `min_size` pixels and repeats are dropped. The ranking
    is random (as the paper's), from `seed`: the same image always gives the same list."""
    cv2 = _cv2()
    bgr = np.ascontiguousarray(image[:, :, ::-1])
    if scale != 1:
        bgr = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    ss = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
    ss.setBaseImage(bgr)
    {"fast": ss.switchToSelectiveSearchFast, "quality": ss.switchToSelectiveSearchQuality,
     "single": ss.switchToSingleStrategy}[mode]()
    rects = ss.process()
    if len(rects) == 0:
        return np.zeros((0, 4), np.float32)
    r = np.asarray(rects, np.float32) / scale
    boxes = np.concatenate([r[:, :2], r[:, :2] + r[:, 2:]], 1)
    keep = ((boxes[:, 2] - boxes[:, 0]) >= min_size) & ((boxes[:, 3] - boxes[:, 1]) >= min_size)
    boxes = boxes[keep]
    # OpenCV ranks the regions with unseeded random numbers (the paper's pseudo-random
    # ranking), so its order changes from call to call while the set stays the same: the
    # set, in a canonical order, is ranked again by a random permutation from `seed`.
    boxes = np.unique(np.round(boxes, 2), axis=0)
    return boxes[np.random.default_rng(seed).permutation(len(boxes))]


def _key(images: np.ndarray, mode: str, scale: float, count: int) -> str:
    h = hashlib.sha256()
    h.update(f"v{VERSION} {mode} {scale:g} {count} {images.shape} {images.dtype}".encode())
    h.update(np.ascontiguousarray(images).tobytes())
    return h.hexdigest()[:20]


def default_cache() -> Path:
    """$LAYERLOOM_CACHE, else $LAYERLOOM_HOME/cache, else the user's cache folder."""
    if os.environ.get("LAYERLOOM_CACHE"):
        return Path(os.environ["LAYERLOOM_CACHE"]) / "proposals"
    base = os.environ.get("LAYERLOOM_HOME")
    if base:
        return Path(base) / "cache" / "proposals"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "layerloom" / \
        "proposals"


class SearchStopped(Exception):
    """The search was asked to stop (the run was stopped while preparing its data)."""


class _Damaged(Exception):
    pass


CACHE_MEMBER = "proposals.npy"
_BOXES = np.dtype("<f4")


def _read_member_header(m) -> tuple[tuple, bool, np.dtype]:
    version = np.lib.format.read_magic(m)
    readers = {(1, 0): np.lib.format.read_array_header_1_0,
               (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        raise _Damaged(f"an .npy format version {version[0]}.{version[1]}, not ours")
    return readers[version](m, max_header_size=1000)


def read_cache(path: Path, n: int, count: int, height: int, width: int) -> np.ndarray:
    """The cached proposals in `path`, checked before they are trusted: a regular file, a zip
    holding only proposals.npy, whose header (read before any data) says n × count × 4
    little-endian float32 in C order; exactly that many bytes, with a good CRC; every box
    finite, x1 <= x2 and y1 <= y2, inside the height × width image (a pixel of slack), or a
    padding row of zeros. Raises FileNotFoundError when there is none, _Damaged saying what
    is wrong otherwise; nothing larger than what the header must say is ever allocated."""
    from runtime.files import NotRegularFile, open_regular
    want = (n, count, 4)
    try:
        fh = open_regular(path)
    except FileNotFoundError:
        raise
    except NotRegularFile as e:
        raise _Damaged(str(e)) from None
    except (OSError, ValueError) as e:
        raise _Damaged(f"cannot be read: {getattr(e, 'strerror', None) or e}") from None
    with fh:
        try:
            z = zipfile.ZipFile(fh)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
            raise _Damaged(f"not an .npz file: {e}") from None
        with z:
            infos = z.infolist()
            if [i.filename for i in infos] != [CACHE_MEMBER]:
                names = ", ".join(repr(i.filename) for i in infos[:4])
                raise _Damaged(f"holds {names or 'nothing'}, not only {CACHE_MEMBER!r}")
            nbytes = n * count * 4 * _BOXES.itemsize
            if infos[0].file_size > nbytes + 4096:  # what its zip entry says unpacked
                raise _Damaged(f"its {CACHE_MEMBER} unpacks to {infos[0].file_size:,} bytes, "
                               f"more than {n:,} × {count} × 4 boxes take")
            try:
                with z.open(infos[0]) as m:
                    try:
                        shape, fortran, dtype = _read_member_header(m)
                    except ValueError as e:  # a header numpy cannot parse
                        raise _Damaged(f"a damaged .npy header ({e})") from None
                    if tuple(shape) != want:
                        dims = " × ".join(str(d) for d in shape) if isinstance(
                            shape, tuple) else repr(shape)
                        raise _Damaged(f"holds {dims} values where {n} × {count} × 4 boxes "
                                       "belong")
                    if dtype != _BOXES:
                        raise _Damaged(f"holds dtype {dtype.str}, not float32 ({_BOXES.str})")
                    if fortran:
                        raise _Damaged("holds an array in Fortran order, not ours")
                    out = np.empty(want, _BOXES)
                    view = memoryview(out).cast("B")
                    got = 0
                    while got < nbytes:
                        chunk = m.read(min(nbytes - got, 1 << 20))
                        if not chunk:
                            break
                        view[got:got + len(chunk)] = chunk
                        got += len(chunk)
                    if got < nbytes:
                        raise _Damaged(f"cut short: {got:,} of {nbytes:,} bytes of boxes")
                    if m.read(1):  # reading to the end also checks the CRC
                        raise _Damaged("more data than its header says")
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
                raise _Damaged(f"unreadable ({e})") from None
    if not np.isfinite(out).all():
        raise _Damaged("holds values that are not finite (NaN or infinity)")
    x1, y1, x2, y2 = out[..., 0], out[..., 1], out[..., 2], out[..., 3]
    if (x2 < x1).any() or (y2 < y1).any():
        raise _Damaged("holds boxes with x2 < x1 or y2 < y1")
    if out.min(initial=0) < -1 or (x2 > width + 1).any() or (y2 > height + 1).any():
        raise _Damaged(f"holds boxes outside the image ({width} × {height})")
    return out


def _write_cache(path: Path, boxes: np.ndarray) -> None:
    """Written whole or not at all: a temporary file beside it, then renamed over it (a
    damaged file or a named pipe in its place is replaced)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    except OSError:
        return  # an unwritable cache folder costs the next run the search again, nothing else
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, proposals=boxes)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def proposals_for(images: np.ndarray, count: int, mode: str = "fast", scale: float = 2.0,
                  cache_dir: str | os.PathLike | None = None,
                  progress: Callable[[int, int], None] | None = None,
                  workers: int | None = None, stop: Callable[[], bool] | None = None,
                  notice: Callable[[str], None] | None = None) -> tuple[np.ndarray, bool]:
    """N × count × 4 float32 proposals for N images (N × 3 × H × W floats in [0, 1]), each
    image's first `count` (zero rows where it has fewer); and whether they came from the
    cache. `progress(done, total)` is called as images are searched (first with 0 done);
    `stop()` is asked between images: when it says True the search ends within a moment,
    raising SearchStopped, and nothing is cached. A cache file that is not exactly what we
    wrote is computed again and written anew, and `notice` is told which file and why."""
    if mode not in MODES:
        raise ProposalError(f"proposal mode {mode!r}: one of {', '.join(MODES)}")
    u8 = (np.clip(images, 0, 1) * 255 + 0.5).astype(np.uint8).transpose(0, 2, 3, 1)
    return proposals_of(len(images), u8.__getitem__, _key(u8, mode, scale, count), count,
                        mode, scale, images.shape[2], images.shape[3], cache_dir, progress,
                        workers, stop, notice)


def as_u8(image: np.ndarray) -> np.ndarray:
    """One 3 × H × W float image in [0, 1] as the H × W × 3 uint8 picture searched (the
    same bytes proposals_for makes of a whole array)."""
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8).transpose(1, 2, 0)


def stream_key(files: list[str], mode: str, scale: float, count: int, height: int,
               width: int) -> str:
    """The cache key of images read lazily (streamed data): each file's path, size and
    modification time (never its pixels, which would mean decoding every image to find
    the cache), with the settings and the size the images are resized to."""
    h = hashlib.sha256()
    h.update(f"v{VERSION} streamed {mode} {scale:g} {count} {height} {width}".encode())
    for f in files:
        try:
            st = os.stat(f)
            h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{f}\0missing\n".encode())
    return h.hexdigest()[:20]


def proposals_of(n: int, image: Callable[[int], np.ndarray], key: str, count: int,
                 mode: str, scale: float, height: int, width: int,
                 cache_dir: str | os.PathLike | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 workers: int | None = None, stop: Callable[[], bool] | None = None,
                 notice: Callable[[str], None] | None = None) -> tuple[np.ndarray, bool]:
    """proposals_for with the images read one at a time: `image(i)` gives image i as
    H × W × 3 uint8 (as_u8), called from worker threads (a streamed dataset's reader); an
    exception it raises (a damaged file, said in words) ends the search and is raised
    here. `key` names the cache file (_key of the pixels, or stream_key)."""
    if mode not in MODES:
        raise ProposalError(f"proposal mode {mode!r}: one of {', '.join(MODES)}")
    folder = Path(cache_dir) if cache_dir is not None else default_cache()
    path = folder / f"selective_search_{key}.npz"
    try:
        return read_cache(path, n, count, height, width), True
    except FileNotFoundError:
        pass
    except _Damaged as e:
        if notice is not None:
            notice(f"the proposal cache file {path} was damaged ({e}): computed again")
    _cv2()
    out = np.zeros((n, count, 4), np.float32)
    total = n
    cancelled = threading.Event()

    def one(i):
        if cancelled.is_set():
            return
        u8 = image(i)
        b = selective_search(u8, mode, scale, seed=zlib.crc32(u8.tobytes()))[:count]
        out[i, :len(b)] = b

    workers = workers or min(4, os.cpu_count() or 1)
    import cv2
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # one image per thread (OpenCV releases the GIL while it searches)
    pool = ThreadPoolExecutor(workers)
    try:
        if progress is not None:
            progress(0, total)
        pending: set = set()
        queued = done = reported = 0
        t_report = time.perf_counter()
        while done < total:
            while queued < total and len(pending) < 2 * workers:  # a few queued, not all
                pending.add(pool.submit(one, queued))
                queued += 1
            finished, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            for f in finished:
                f.result()
            done += len(finished)
            if stop is not None and stop():
                raise SearchStopped()
            now = time.perf_counter()
            if progress is not None and done > reported and (
                    done == total or done // 16 > reported // 16 or now - t_report > 0.5):
                progress(done, total)
                reported, t_report = done, now
    finally:
        cancelled.set()  # images still queued are skipped; those being searched end alone
        pool.shutdown(wait=False, cancel_futures=True)
        cv2.setNumThreads(threads)
    _write_cache(path, out)
    return out, False


def recall(proposals: np.ndarray, boxes: np.ndarray, labels: np.ndarray,
           iou: float = 0.5) -> float:
    """The share of objects some proposal overlaps with IoU >= iou (the ceiling of a
    detector that only rescores and refines proposals)."""
    import torch

    from .boxes import box_iou, valid_boxes
    hit = total = 0
    for p, b, lab in zip(proposals, boxes, labels):
        g = torch.from_numpy(b[lab > 0])
        p = torch.from_numpy(p)
        p = p[valid_boxes(p)]
        total += len(g)
        if len(g) and len(p):
            hit += int((box_iou(g, p).max(1).values >= iou).sum())
    return hit / max(total, 1)
