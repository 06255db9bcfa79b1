"""RoIAlign (runtime/detection/boxes.py) against torchvision's semantics: hand-worked values,
and a scalar transcription of torchvision's CPU kernel (roi_align_kernel.cpp: the bilinear
interpolation with its edge rules, the adaptive or fixed sampling grid, `aligned`) on random
cases; its gradient against finite differences."""
from __future__ import annotations

import math

import pytest
import torch

from runtime.detection import boxes as B


def _bilinear(m, y, x):
    """roi_align_kernel.cpp's bilinear_interpolate on one H × W map."""
    height, width = m.shape
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
        y_high = y_low = height - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_high = x_low = width - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1 - ly, 1 - lx
    return (hy * hx * m[y_low, x_low] + hy * lx * m[y_low, x_high]
            + ly * hx * m[y_high, x_low] + ly * lx * m[y_high, x_high])


def roi_align_reference(x, rois, size, scale, sampling_ratio, aligned):
    x = x.double()
    k, (n, c, height, width) = len(rois), x.shape
    out = torch.zeros(k, c, size, size, dtype=torch.float64)
    offset = 0.5 if aligned else 0.0
    for r, (b, x1, y1, x2, y2) in enumerate(rois.tolist()):
        sw, sh = x1 * scale - offset, y1 * scale - offset
        rw, rh = x2 * scale - offset - sw, y2 * scale - offset - sh
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bh, bw = rh / size, rw / size
        gh = sampling_ratio if sampling_ratio > 0 else math.ceil(rh / size)
        gw = sampling_ratio if sampling_ratio > 0 else math.ceil(rw / size)
        count = max(gh * gw, 1)
        for ch in range(c):
            m = x[int(b), ch]
            for i in range(size):
                for j in range(size):
                    total = 0.0
                    for iy in range(gh):
                        yy = sh + i * bh + (iy + 0.5) * bh / gh
                        for ix in range(gw):
                            xx = sw + j * bw + (ix + 0.5) * bw / gw
                            total += float(_bilinear(m, yy, xx))
                    out[r, ch, i, j] = total / count
    return out


def test_roi_align_by_hand():
    # A 4 × 4 map whose value is 10·row + column: bilinear interpolation of a linear map is
    # the map itself, so each bin is its centre's value.
    m = (10 * torch.arange(4.0)[:, None] + torch.arange(4.0)[None, :])[None, None]
    rois = torch.tensor([[0.0, 0.0, 0.0, 2.0, 2.0]])
    y = B.roi_align(m, rois, 2, 1.0, sampling_ratio=1, aligned=False)
    # bins of 1 × 1 from (0, 0): sampled at (0.5, 0.5), (0.5, 1.5), (1.5, 0.5), (1.5, 1.5)
    assert torch.allclose(y[0, 0], torch.tensor([[5.5, 6.5], [15.5, 16.5]]))
    # aligned: the region moves by half a pixel, the samples with it
    y = B.roi_align(m, rois, 2, 1.0, sampling_ratio=1, aligned=True)
    assert torch.allclose(y[0, 0], torch.tensor([[0.0, 1.0], [10.0, 11.0]]))


def test_roi_align_adaptive_grid_averages_more_points():
    m = torch.zeros(1, 1, 8, 8)
    m[0, 0, 1, 1] = 1.0  # one bright pixel
    rois = torch.tensor([[0.0, 0.0, 0.0, 4.0, 4.0]])
    fixed = B.roi_align(m, rois, 1, 1.0, sampling_ratio=1)  # one point at (2, 2): 0
    adaptive = B.roi_align(m, rois, 1, 1.0, sampling_ratio=-1)  # 4 × 4 points at .5, 1.5, …
    assert float(fixed) == 0.0
    # the points (0.5 | 1.5) × (0.5 | 1.5) each read 1/4 of the pixel, over 16 points
    assert float(adaptive) == pytest.approx(4 * 0.25 / 16)


def test_roi_align_beyond_the_map_reads_zero_and_the_border_is_held():
    m = torch.ones(1, 1, 4, 4)
    far = torch.tensor([[0.0, 10.0, 10.0, 12.0, 12.0]])  # every point > 1 pixel outside
    assert float(B.roi_align(m, far, 2, 1.0, 2).abs().max()) == 0.0
    # past the last pixel's centre (3) but inside the map: the border value is held
    edge = torch.tensor([[0.0, 3.0, 3.0, 4.0, 4.0]])
    assert torch.allclose(B.roi_align(m, edge, 2, 1.0, 2), torch.ones(1, 1, 2, 2))
    # points beyond the map's edge (y = 4.125 > H = 4) read 0: half of the bin's points
    over = torch.tensor([[0.0, 0.0, 3.0, 1.0, 4.5]])
    assert float(B.roi_align(m, over, 1, 1.0, 2)) == pytest.approx(0.5)


def test_roi_align_no_rois_and_an_empty_region():
    m = torch.randn(2, 3, 5, 5)
    assert B.roi_align(m, torch.zeros(0, 5), 7, 1.0).shape == (0, 3, 7, 7)
    # aligned and of zero size: the adaptive grid has no points, the bins are 0 (count 1)
    flat = torch.tensor([[1.0, 2.0, 2.0, 2.0, 2.0]])
    assert float(B.roi_align(m, flat, 3, 1.0, -1, aligned=True).abs().max()) == 0.0
    # not aligned: the region is at least 1 × 1 and reads the map there
    assert float(B.roi_align(m, flat, 3, 1.0, -1, aligned=False).abs().max()) > 0


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", [-1, 0, 1, 2, 3])
def test_roi_align_equals_the_reference_kernel(aligned, sampling_ratio):
    g = torch.Generator().manual_seed(sampling_ratio + 10 * aligned)
    x = torch.randn(2, 3, 9, 11, generator=g)
    xy = torch.rand(12, 2, generator=g) * torch.tensor([60.0, 50.0]) - 8  # some outside
    wh = torch.rand(12, 2, generator=g) * 30 + 0.5
    rois = torch.cat((torch.randint(0, 2, (12, 1), generator=g).float(), xy, xy + wh), 1)
    rois[0, 1:] = torch.tensor([3.0, 3.0, 3.2, 3.1])  # smaller than a map pixel
    size, scale = 3, 0.2
    got = B.roi_align(x, rois, size, scale, sampling_ratio, aligned)
    want = roi_align_reference(x, rois, size, scale, sampling_ratio, aligned)
    assert torch.allclose(got.double(), want, atol=1e-5), (got.double() - want).abs().max()


def test_roi_align_gradient_matches_finite_differences():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 2, 6, 7, dtype=torch.float64, generator=g, requires_grad=True)
    rois = torch.tensor([[0.0, 1.3, 0.7, 5.9, 4.2], [1.0, -1.0, 2.0, 3.5, 7.5],
                         [1.0, 0.2, 0.2, 1.1, 1.0]], dtype=torch.float64)
    for sr, aligned in ((-1, False), (2, True)):
        assert torch.autograd.gradcheck(
            lambda t: B.roi_align(t, rois, 3, 1.0, sr, aligned), (x,), eps=1e-6, atol=1e-6)


def test_roi_align_does_not_quantise_as_roi_pool_does():
    # Moving a RoI by a fraction of a map pixel changes RoIAlign's output, never RoIPool's
    # (the rounding Mask R-CNN removed).
    x = torch.randn(1, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    a = torch.tensor([[0.0, 8.0, 8.0, 40.0, 40.0]])
    b = a + torch.tensor([0.0, 1.0, 1.0, 1.0, 1.0])  # a quarter of a map pixel at scale 1/4
    pool = [B.roi_pool(x, r, 4, 0.25) for r in (a, b)]
    align = [B.roi_align(x, r, 4, 0.25, 2, True) for r in (a, b)]
    assert torch.equal(pool[0], pool[1])
    assert not torch.allclose(align[0], align[1])


def test_scripted_roi_align_equals_the_eager_one():
    x = torch.randn(2, 3, 8, 8)
    rois = torch.tensor([[0.0, 1.0, 1.0, 20.0, 30.0], [1.0, -3.0, 4.0, 9.0, 9.5]])
    s = torch.jit.script(B._roi_align)
    for sr, aligned in ((-1, False), (2, True)):
        assert torch.allclose(s(x, rois, 7, 7, 0.25, sr, aligned),
                              B._roi_align(x, rois, 7, 7, 0.25, sr, aligned))
    assert s(x, rois[:0], 7, 7, 0.25, -1, False).shape == (0, 3, 7, 7)
