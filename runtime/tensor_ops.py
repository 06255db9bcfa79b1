"""The functions the generic tensor-operation nodes call where torch has none that takes the
tensor first (graph/catalogue/tensor_ops.py, tensor_shape_ops.py): c / x, c ** x, a product
over several dims, a sample's tiling and a slice along one dim. Everything else those nodes
do is a torch function the catalogue's fixed tables name ("torch.exp", "torch.matmul"), so
the Python export reads as PyTorch. Self-contained (torch only): the Python export copies
these functions."""
from __future__ import annotations

import torch


def reflected_div(x: torch.Tensor, scalar: float) -> torch.Tensor:
    """c / x, as torch computes `2 / x` (the reciprocal times c)."""
    return scalar / x


def reflected_pow(x: torch.Tensor, scalar: float) -> torch.Tensor:
    """c ** x, as torch computes `2 ** x`."""
    return scalar ** x


def prod_over(x: torch.Tensor, dim: list[int], keepdim: bool = False) -> torch.Tensor:
    """The product over several dims (torch.prod takes one): one dim at a time, the highest
    first so the others keep their numbers."""
    for d in sorted((d % x.dim() for d in dim), reverse=True):
        x = torch.prod(x, d, keepdim=keepdim)
    return x


def repeat_sample(x: torch.Tensor, repeats: list[int]) -> torch.Tensor:
    """x tiled `repeats` times along each dim after the batch (the batch once)."""
    return x.repeat(1, *repeats)


def slice_along(x: torch.Tensor, dim: int, start: int = 0, end: int | None = None,
                step: int = 1) -> torch.Tensor:
    """x[..., start:end:step, ...] on `dim`."""
    index = [slice(None)] * (dim % x.dim())
    return x[tuple(index) + (slice(start, end, step),)]
