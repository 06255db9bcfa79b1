"""Box operations with torchvision's semantics, written in torch (issue 13).

There is no CPU build of torchvision on our machines (its CUDA wheels fail to import with the
CPU torch), so the detection ops are here; where torchvision imports (a CUDA machine), `nms`
and `roi_pool` use its kernels. torchvision/ops/boxes.py, _box_convert.py, roi_pool.py and
torchvision/models/detection/_utils.py are the reference; tests/runtime/test_boxes.py checks
the hand-worked cases (ties, empty input, boxes outside the image, empty bins).

Boxes are (x1, y1, x2, y2) in pixels, x2 > x1 and y2 > y1 for a real box. A padded set of
boxes (one image's proposals or objects, K per image) marks its unused rows with a zero-area
box: `valid_boxes` tells them apart.
"""
from __future__ import annotations

import math

import numpy as _np  # nms's loop outside TorchScript; the python export sets it to None
import torch

try:  # torchvision's kernels where it imports with this torch (a CUDA machine)
    import torchvision.ops as _tv
    _tv.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)
except Exception:  # noqa: BLE001: ImportError, or "operator torchvision::nms does not exist"
    _tv = None

BBOX_XFORM_CLIP = math.log(1000.0 / 16)  # torchvision's cap on dw, dh before exp()


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def valid_boxes(boxes: torch.Tensor) -> torch.Tensor:
    """True for real boxes (positive width and height), False for padding rows."""
    return (boxes[..., 2] > boxes[..., 0]) & (boxes[..., 3] > boxes[..., 1])


def box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """M × K intersection over union; as torchvision, two zero-area boxes give NaN (0 / 0)."""
    area1, area2 = box_area(boxes1), box_area(boxes2)
    lt = torch.max(boxes1[:, None, :2], boxes2[None, :, :2])
    rb = torch.min(boxes1[:, None, 2:], boxes2[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area1[:, None] + area2[None, :] - inter)


def clip_boxes(boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Clip to an image of size (height, width): x to [0, width], y to [0, height]."""
    h, w = size
    x = boxes[..., 0::2].clamp(0, w)
    y = boxes[..., 1::2].clamp(0, h)
    return torch.stack((x, y), dim=-1).reshape(boxes.shape)


def remove_small_boxes(boxes: torch.Tensor, min_size: float) -> torch.Tensor:
    """Indices of the boxes whose sides are both at least `min_size`."""
    ws, hs = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return torch.where((ws >= min_size) & (hs >= min_size))[0]


# Box coding: the regression targets of R-CNN and its successors -----------------------------

def encode_boxes(gt: torch.Tensor, proposals: torch.Tensor,
                 weights: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)
                 ) -> torch.Tensor:
    """The deltas (tx, ty, tw, th) that move each proposal onto its ground-truth box:
    tx = wx (gx − px) / pw, ty = wy (gy − py) / ph, tw = ww log(gw / pw), th = wh log(gh / ph),
    (px, py, pw, ph) the proposal's centre and size (torchvision's BoxCoder.encode_single)."""
    wx, wy, ww, wh = weights
    pw = proposals[:, 2] - proposals[:, 0]
    ph = proposals[:, 3] - proposals[:, 1]
    px = proposals[:, 0] + 0.5 * pw
    py = proposals[:, 1] + 0.5 * ph
    gw = gt[:, 2] - gt[:, 0]
    gh = gt[:, 3] - gt[:, 1]
    gx = gt[:, 0] + 0.5 * gw
    gy = gt[:, 1] + 0.5 * gh
    return torch.stack((wx * (gx - px) / pw, wy * (gy - py) / ph,
                        ww * torch.log(gw / pw), wh * torch.log(gh / ph)), dim=1)


def decode_boxes(deltas: torch.Tensor, boxes: torch.Tensor,
                 weights: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0),
                 clip: float = BBOX_XFORM_CLIP) -> torch.Tensor:
    """The inverse of `encode_boxes`, for R × 4k deltas (k boxes per proposal, one per class):
    R × 4k boxes. dw and dh are capped at `clip` before exp() (torchvision's
    BoxCoder.decode_single)."""
    boxes = boxes.to(deltas.dtype)
    wx, wy, ww, wh = weights
    widths = boxes[:, 2] - boxes[:, 0]
    heights = boxes[:, 3] - boxes[:, 1]
    ctr_x = boxes[:, 0] + 0.5 * widths
    ctr_y = boxes[:, 1] + 0.5 * heights
    dx = deltas[:, 0::4] / wx
    dy = deltas[:, 1::4] / wy
    dw = (deltas[:, 2::4] / ww).clamp(max=clip)
    dh = (deltas[:, 3::4] / wh).clamp(max=clip)
    pred_ctr_x = dx * widths[:, None] + ctr_x[:, None]
    pred_ctr_y = dy * heights[:, None] + ctr_y[:, None]
    half_w = 0.5 * torch.exp(dw) * widths[:, None]
    half_h = 0.5 * torch.exp(dh) * heights[:, None]
    out = torch.stack((pred_ctr_x - half_w, pred_ctr_y - half_h,
                       pred_ctr_x + half_w, pred_ctr_y + half_h), dim=2)
    return out.flatten(1)


# Non-maximum suppression -----------------------------------------------------------------

def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Indices of the boxes kept, by decreasing score: each box in turn (equal scores: the
    earlier box first) suppresses the later ones that overlap it with IoU > iou_threshold."""
    if not torch.jit.is_scripting():
        if _tv is not None and not torch.jit.is_tracing():
            return _tv.nms(boxes, scores, iou_threshold)
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.int64, device=boxes.device)
    order = torch.sort(scores, descending=True, stable=True).indices
    iou = box_iou(boxes[order], boxes[order])
    over = iou > iou_threshold
    if not torch.jit.is_scripting():
        if _np is not None:  # the loop in numpy: a tenth of the time per box
            o = over.cpu().numpy()
            k = _np.ones(len(order), dtype=bool)
            for i in range(len(order)):  # greedy: a box suppressed itself suppresses nothing
                if k[i]:
                    k[i + 1:] &= ~o[i, i + 1:]
            return order[torch.from_numpy(k).to(order.device)]
    # TorchScript (an export), or the python export (torch only): the same loop in torch
    keep = torch.ones(len(order), dtype=torch.bool, device=boxes.device)
    for i in range(len(order)):
        if bool(keep[i]):  # (`&=` on a slice would not write back in TorchScript)
            keep[i + 1:] = keep[i + 1:] & ~over[i, i + 1:]
    return order[keep]


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor,
                iou_threshold: float) -> torch.Tensor:
    """NMS within each category `idxs` independently (boxes of different categories never
    suppress each other), by torchvision's coordinate trick: each category's boxes are moved
    apart by an offset larger than every coordinate."""
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.int64, device=boxes.device)
    max_coordinate = boxes.max()
    offsets = idxs.to(boxes) * (max_coordinate + torch.tensor(1).to(boxes))
    return nms(boxes + offsets[:, None], scores, iou_threshold)


# RoI pooling --------------------------------------------------------------------------------

def _round(x: torch.Tensor) -> torch.Tensor:
    """C's round(): halves away from zero (torch.round takes them to the even integer)."""
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def as_rois(boxes) -> torch.Tensor:
    """K × 5 (batch index, x1, y1, x2, y2) from K × 5 rows, or from a list of per-image
    K_i × 4 boxes (torchvision's two forms)."""
    if isinstance(boxes, torch.Tensor):
        if boxes.dim() != 2 or boxes.shape[1] != 5:
            raise ValueError(f"RoIs must be K × 5 (batch index, x1, y1, x2, y2), got "
                             f"{tuple(boxes.shape)}")
        return boxes
    parts = [torch.cat((torch.full_like(b[:, :1], i), b), 1) for i, b in enumerate(boxes)]
    return torch.cat(parts, 0)


def traced_as_script(fn):
    """`fn` itself; while torch.jit.trace runs (a TorchScript export), its TorchScript
    compilation, which the trace calls instead of recording one input's path: loops over
    images, RoIs and boxes, and sizes that depend on the data (how many boxes NMS keeps),
    stay as they are in the archive."""
    if not torch.jit.is_tracing():
        return fn
    if fn not in _SCRIPTED:
        _SCRIPTED[fn] = torch.jit.script(fn)
    return _SCRIPTED[fn]


_SCRIPTED: dict = {}


def _pair(size) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def roi_pool(x: torch.Tensor, boxes, output_size, spatial_scale: float = 1.0) -> torch.Tensor:
    """Fast R-CNN's RoI max pooling: K × C × h × w from a feature map N × C × H × W.

    Each RoI (batch index b, x1, y1, x2, y2, in input-image pixels) is projected onto the map
    and quantised: start = round(x1 · scale), end = round(x2 · scale), width = max(end −
    start + 1, 1) (likewise for y). Its bin (i, j) spans rows floor(i · height / h) to
    ceil((i + 1) · height / h) from the start, clipped to the map; the bin's value is the
    maximum there, and 0 where the bin is empty (torchvision's roi_pool)."""
    rois = as_rois(boxes)
    ph, pw = _pair(output_size)
    if _tv is not None and not torch.jit.is_tracing():
        return _tv.roi_pool(x, rois.to(x.dtype), (ph, pw), spatial_scale)
    return traced_as_script(_roi_pool)(x, rois, ph, pw, float(spatial_scale))


def _bins(start: torch.Tensor, length: torch.Tensor, count: int,
          limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    """K × count bin starts and ends, clipped to [0, limit]."""
    i = torch.arange(count, device=start.device, dtype=torch.float32)
    size = length.to(torch.float32)[:, None] / count
    lo = torch.floor(i * size).to(torch.int64) + start[:, None]
    hi = torch.ceil((i + 1) * size).to(torch.int64) + start[:, None]
    return lo.clamp(0, limit), hi.clamp(0, limit)


def _roi_pool(x: torch.Tensor, rois: torch.Tensor, ph: int, pw: int, spatial_scale: float,
              chunk: int = 512) -> torch.Tensor:
    n, c, height, width = x.shape
    k = rois.shape[0]
    if k == 0:
        return x.new_zeros((0, c, ph, pw))
    r = _round(rois[:, 1:].to(torch.float32) * spatial_scale).to(torch.int64)
    x0, y0, x1, y1 = r[:, 0], r[:, 1], r[:, 2], r[:, 3]
    roi_w = (x1 - x0 + 1).clamp(min=1)
    roi_h = (y1 - y0 + 1).clamp(min=1)
    hs, he = _bins(y0, roi_h, ph, height)
    ws, we = _bins(x0, roi_w, pw, width)
    # Each bin's maximum from a sparse table: level (a, b) holds, at (y, x), the maximum
    # over rows y … y + 2ᵃ − 1 and columns x … x + 2ᵇ − 1; a bin of l rows is covered by two
    # windows of 2^⌊log₂ l⌋ rows (from its top, and ending at its bottom), so by four
    # lookups in all. Nothing of size K × C × H × W is ever made (K RoIs of whole maps).
    len_h, len_w = (he - hs).clamp(min=1), (we - ws).clamp(min=1)
    kh, kw = _log2(len_h), _log2(len_w)
    levels_h, levels_w = int(kh.max()) + 1, int(kw.max()) + 1
    base = x.permute(0, 2, 3, 1)  # N × H × W × C: a lookup picks a pixel's C values
    by_rows = [base]
    for a in range(1, levels_h):
        by_rows.append(_shift_max(by_rows[-1], 1, 1 << (a - 1)))
    tables: list[torch.Tensor] = []
    for t in by_rows:
        tables.append(t)
        for b in range(1, levels_w):
            tables.append(_shift_max(tables[-1], 2, 1 << (b - 1)))
    table = torch.stack(tables).reshape(-1, c)  # (levels_h · levels_w · N · H · W) × C
    img = rois[:, 0].to(torch.int64)
    level = kh[:, :, None] * levels_w + kw[:, None, :]  # K × ph × pw
    top, bottom = hs, (he - torch.pow(2, kh)).clamp(min=0)
    left, right = ws, (we - torch.pow(2, kw)).clamp(min=0)
    cell = (level * n + img[:, None, None]) * height  # K × ph × pw
    corners = torch.stack([(cell + rows[:, :, None]) * width + cols[:, None, :]
                           for rows, cols in ((top, left), (top, right), (bottom, left),
                                              (bottom, right))], 3)  # K × ph × pw × 4
    empty = (he <= hs)[:, :, None] | (we <= ws)[:, None, :]  # K × ph × pw
    parts: list[torch.Tensor] = []
    for i in range(0, k, chunk):  # in slices: a few MiB each, not one K × C × h × w × 4
        v = table[corners[i:i + chunk]].max(3).values  # k × ph × pw × C
        parts.append(v.masked_fill(empty[i:i + chunk, :, :, None], 0.0))
    out = parts[0] if len(parts) == 1 else torch.cat(parts)
    return out.permute(0, 3, 1, 2).contiguous()


def _log2(v: torch.Tensor) -> torch.Tensor:
    """⌊log₂ v⌋ of positive integers, exactly."""
    k = torch.zeros_like(v)
    for b in range(1, 63):
        more = v >= (1 << b)
        if not bool(more.any()):
            break
        k = k + more.to(k.dtype)
    return k


def _shift_max(t: torch.Tensor, dim: int, s: int) -> torch.Tensor:
    """max(t[i], t[i + s]) along `dim` (the last s entries keep t's own values: no window
    that long starts there)."""
    size = t.shape[dim]
    if s >= size:
        return t
    head = torch.maximum(t.narrow(dim, 0, size - s), t.narrow(dim, s, size - s))
    return torch.cat((head, t.narrow(dim, size - s, s)), dim)


def roi_warp(images: torch.Tensor, boxes, output_size) -> torch.Tensor:
    """R-CNN's warp: each RoI's pixels (batch index b, x1, y1, x2, y2) cropped from the image
    and resized to h × w, whatever its aspect ratio, by bilinear sampling at the centres of
    the output pixels (outside the image reads 0): K × C × h × w."""
    oh, ow = _pair(output_size)
    return traced_as_script(_roi_warp)(images, as_rois(boxes), oh, ow)


def _roi_warp(images: torch.Tensor, rois: torch.Tensor, oh: int, ow: int) -> torch.Tensor:
    n, c, height, width = images.shape
    k = rois.shape[0]
    if k == 0:
        return images.new_zeros((0, c, oh, ow))
    b = rois[:, 0].to(torch.int64)
    r = rois[:, 1:].to(images.dtype)
    x1, y1, x2, y2 = r[:, 0], r[:, 1], r[:, 2], r[:, 3]
    tx = (torch.arange(ow, device=images.device, dtype=images.dtype) + 0.5) / ow
    ty = (torch.arange(oh, device=images.device, dtype=images.dtype) + 0.5) / oh
    px = x1[:, None] + tx * (x2 - x1)[:, None]  # K × ow, in pixels
    py = y1[:, None] + ty * (y2 - y1)[:, None]
    gx = (2 * px / width - 1)[:, None, :].expand(k, oh, ow)  # grid_sample's [-1, 1]
    gy = (2 * py / height - 1)[:, :, None].expand(k, oh, ow)
    grid = torch.stack((gx, gy), dim=3)
    out = images.new_zeros((k, c, oh, ow))
    for i in range(n):  # each image once, with all its RoIs' grids stacked (no copies of it)
        rows = torch.where(b == i)[0]
        if len(rows) > 0:
            g = grid[rows].reshape(1, len(rows) * oh, ow, 2)
            y = torch.nn.functional.grid_sample(images[i:i + 1], g, mode="bilinear",
                                                padding_mode="zeros", align_corners=False)
            out[rows] = y.reshape(c, len(rows), oh, ow).transpose(0, 1)
    return out


# RoIAlign (Mask R-CNN) -----------------------------------------------------------------------

def roi_align(x: torch.Tensor, boxes, output_size, spatial_scale: float = 1.0,
              sampling_ratio: int = -1, aligned: bool = False) -> torch.Tensor:
    """Mask R-CNN's RoIAlign: K × C × h × w from a feature map N × C × H × W, no rounding.

    Each RoI (batch index b, x1, y1, x2, y2, in image pixels) maps to x1 · s − o … x2 · s − o
    on the map (o = ½ when `aligned`, else 0, and then the region is at least 1 × 1); bin
    (i, j) averages the feature map bilinearly interpolated at a g_h × g_w grid of points
    evenly inside it (g = sampling_ratio, or ⌈region side / output side⌉ when it is ≤ 0). A
    point more than one pixel outside the map reads 0 (torchvision's roi_align)."""
    rois = as_rois(boxes)
    ph, pw = _pair(output_size)
    if _tv is not None and not torch.jit.is_tracing():
        return _tv.roi_align(x, rois.to(x.dtype), (ph, pw), spatial_scale, sampling_ratio,
                             aligned)
    return traced_as_script(_roi_align)(x, rois, ph, pw, float(spatial_scale),
                                        int(sampling_ratio), bool(aligned))


def _axis_weights(start: torch.Tensor, length: torch.Tensor, grid: torch.Tensor, pooled: int,
                  size: int) -> torch.Tensor:
    """K × pooled × size: how much each row (or column) of the map adds to each bin along one
    axis, bilinear interpolation at the bin's sampling points summed and divided by their
    number. Interpolation is separable, so a bin is (rows' weights)ᵀ · map · (columns')."""
    k = start.shape[0]
    g = int(grid.max()) if k > 0 else 0
    out = torch.zeros((k, pooled, size), dtype=start.dtype, device=start.device)
    if g == 0:
        return out
    bin_size = length / pooled
    i = torch.arange(pooled, device=start.device, dtype=start.dtype)[None, :, None]
    s = torch.arange(g, device=start.device, dtype=start.dtype)[None, None, :]
    per = grid.to(start.dtype).clamp(min=1)[:, None, None]
    pos = start[:, None, None] + i * bin_size[:, None, None] + \
        (s + 0.5) * bin_size[:, None, None] / per  # K × pooled × g
    used = s < grid.to(start.dtype)[:, None, None]
    inside = used & (pos >= -1.0) & (pos <= float(size))
    pos = pos.clamp(min=0)
    low = pos.to(torch.int64)  # pos ≥ 0: truncation is the floor
    edge = low >= size - 1
    low = torch.where(edge, torch.full_like(low, size - 1), low)
    high = torch.where(edge, low, low + 1)
    pos = torch.where(edge, low.to(pos.dtype), pos)
    frac = pos - low.to(pos.dtype)
    w = inside.to(pos.dtype) / per
    out.scatter_add_(2, low.reshape(k, pooled, g), ((1 - frac) * w).reshape(k, pooled, g))
    out.scatter_add_(2, high.reshape(k, pooled, g), (frac * w).reshape(k, pooled, g))
    return out


def _roi_align(x: torch.Tensor, rois: torch.Tensor, ph: int, pw: int, spatial_scale: float,
               sampling_ratio: int = -1, aligned: bool = False) -> torch.Tensor:
    n, c, height, width = x.shape
    k = rois.shape[0]
    out = x.new_zeros((k, c, ph, pw))
    if k == 0:
        return out
    offset = 0.5 if aligned else 0.0
    r = rois[:, 1:].to(x.dtype) * spatial_scale - offset
    x0, y0 = r[:, 0], r[:, 1]
    roi_w, roi_h = r[:, 2] - x0, r[:, 3] - y0
    if not aligned:
        roi_w, roi_h = roi_w.clamp(min=1.0), roi_h.clamp(min=1.0)
    if sampling_ratio > 0:
        grid_h = torch.full((k,), sampling_ratio, dtype=torch.int64, device=x.device)
        grid_w = grid_h
    else:
        grid_h = torch.ceil(roi_h / ph).to(torch.int64)
        grid_w = torch.ceil(roi_w / pw).to(torch.int64)
    wy = _axis_weights(y0, roi_h, grid_h, ph, height)  # K × ph × H
    wx = _axis_weights(x0, roi_w, grid_w, pw, width)  # K × pw × W
    b = rois[:, 0].to(torch.int64)
    for i in range(n):  # each image's RoIs: (K × 1 × ph × H) · (C × H × W) · (K × 1 × W × pw)
        rows = torch.where(b == i)[0]
        if len(rows) > 0:
            t = torch.matmul(wy[rows][:, None], x[i][None])  # k × C × ph × W
            # .to: under bf16 autocast matmul gives bfloat16, `out` is x's float32
            out[rows] = torch.matmul(t, wx[rows].transpose(1, 2)[:, None]).to(out.dtype)
    return out
