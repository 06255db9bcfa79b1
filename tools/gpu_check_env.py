"""tools/gpu_check.sh's first part: one JSON object on stdout with the Python, torch and CUDA
versions, the device, and the modules the GPU tests need that are not installed ('missing');
with CUDA also what only some tests need ('optional_missing': OpenCV's selective search, for
the rcnn and fast_rcnn templates' proposals) and whether torchvision's kernels serve the
detection ops. Stdlib and torch only; it never raises."""
from __future__ import annotations

import importlib.util
import json
import platform
import sys

REQUIRED = ("torch", "numpy", "networkx", "pydantic", "safetensors", "pytest", "sklearn",
            "PIL", "pycocotools")


def _present(name: str) -> bool:
    """Whether the module is installed (found, not imported: quick)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def main() -> None:
    out: dict = {"python": sys.version.split()[0], "executable": sys.executable,
                 "machine": platform.machine(), "cuda": False}
    out["missing"] = [m for m in REQUIRED if not _present(m)]
    try:
        import torch
    except Exception as e:  # noqa: BLE001
        out["torch_error"] = f"{type(e).__name__}: {e}"
        print(json.dumps(out, indent=1))
        return
    out.update(torch=torch.__version__, torch_cuda=torch.version.cuda,
               cudnn=torch.backends.cudnn.version() if torch.backends.cudnn.is_available()
               else None, cuda=torch.cuda.is_available())
    try:
        import torch.distributed as dist
        out["nccl"] = bool(dist.is_available() and dist.is_nccl_available())
    except Exception:  # noqa: BLE001
        out["nccl"] = False
    if not out["cuda"]:  # the rest is read only where the check will run
        print(json.dumps(out, indent=1))
        return
    try:
        import cv2
        ss = hasattr(cv2, "ximgproc")
    except Exception:  # noqa: BLE001
        ss = False
    out["optional_missing"] = [] if ss else ["cv2.ximgproc (opencv-contrib-python-headless)"]
    try:
        from runtime.detection import boxes
        out["torchvision_ops"] = boxes._tv is not None
    except Exception as e:  # noqa: BLE001
        out["torchvision_ops"] = f"runtime.detection does not import: {type(e).__name__}: {e}"
    if out["cuda"]:
        try:
            p = torch.cuda.get_device_properties(0)
            out.update(device=torch.cuda.get_device_name(0), devices=torch.cuda.device_count(),
                       capability=f"{p.major}.{p.minor}", memory_gib=round(
                           p.total_memory / 2**30, 1), bf16=torch.cuda.is_bf16_supported())
        except Exception as e:  # noqa: BLE001: a driver that torch cannot talk to
            out.update(cuda=False, cuda_error=f"{type(e).__name__}: {e}")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    main()
