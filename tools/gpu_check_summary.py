"""tools/gpu_check.sh's last part: OUT_DIR/gpu_check.json from what the parts left there.

    python tools/gpu_check_summary.py OUT_DIR ENV_STATUS SECONDS

Each part (tests, bench_transformer_gpu, bench_compile_cuda, bench_torch_compile_cuda):
status passed / failed / skipped / timed_out, its seconds and limit, and its figures (the
tests' counts and failures from the JUnit XML, each template's run from gpu_detail.jsonl; a
benchmark's JSON last line). Exit status 0 when nothing failed (a machine without CUDA
included), else 1. Stdlib only (the project's atomic write when it imports)."""
from __future__ import annotations

import json
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

PARTS = ("tests", "bench_transformer_gpu", "bench_compile_cuda", "bench_torch_compile_cuda")


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _last_json_line(path: Path):
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


def _junit(path: Path) -> dict:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return {}
    out = {"passed": 0, "failed": 0, "skipped": 0, "failures": [], "skips": {}}
    for case in root.iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        skip = case.find("skipped")
        if bad is not None:
            out["failed"] += 1
            out["failures"].append({"test": name,
                                    "message": (bad.get("message") or "")[:600]})
        elif skip is not None:
            out["skipped"] += 1
            why = (skip.get("message") or "")[:200]
            out["skips"][why] = out["skips"].get(why, 0) + 1
        else:
            out["passed"] += 1
    return out


def _details(path: Path) -> dict:
    out: dict = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            d = json.loads(line)
        except ValueError:
            continue
        out.setdefault(d.pop("kind", "other"), []).append(d)
    return out


def summary(out_dir: Path, env_status: int, seconds: int) -> dict:
    env = _read_json(out_dir / ".env.json") or {"error": f"exit status {env_status}"}
    smi = out_dir / ".nvidia-smi.txt"
    env["nvidia_smi"] = smi.read_text(errors="replace") if smi.exists() else None
    ran = {}
    parts_file = out_dir / ".parts.jsonl"
    if parts_file.exists():
        for line in parts_file.read_text().splitlines():
            try:
                p = json.loads(line)
            except ValueError:
                continue
            ran[p["part"]] = p
    if env_status != 0:
        reason = "the environment check failed"
    elif not env.get("cuda"):
        reason = "no CUDA device"
    elif env.get("missing"):
        reason = "missing python modules: " + ", ".join(env["missing"])
    else:
        reason = None
    parts = {}
    for name in PARTS:
        p = ran.get(name)
        if p is None:
            parts[name] = {"status": "skipped", "reason": reason or "not run"}
            continue
        rc = p.get("rc")
        status = ("timed_out" if rc in (124, 137) else "passed" if rc == 0 else
                  "skipped" if rc is None else "failed")
        part = {"status": status, "seconds": p.get("seconds"), "limit": p.get("limit"),
                "log": p.get("log"), "exit_status": rc}
        if name == "tests":
            part["counts"] = _junit(out_dir / "gpu_tests.xml")
            part["figures"] = _details(out_dir / "gpu_detail.jsonl")
            counts = part["counts"]
            if rc == 5:  # pytest: no tests collected
                part["status"] = "failed"
            elif rc == 0 and counts and not counts["passed"] and not counts["failed"]:
                part["status"] = "skipped"  # every one skipped (no CUDA: a dry run)
        else:
            last = _last_json_line(out_dir / (p.get("log") or ""))
            part["figures"] = last
            if isinstance(last, dict) and "skipped" in last:
                part["status"] = "skipped"
        parts[name] = part
    failed = [n for n, p in parts.items() if p["status"] in ("failed", "timed_out")]
    if reason == "the environment check failed" or (reason and reason.startswith("missing")):
        failed.append("environment")
    overall = "failed" if failed else ("skipped" if reason else "passed")
    return {"status": overall, "reason": reason, "failed": failed, "seconds": seconds,
            "cuda": bool(env.get("cuda")), "environment": env, "parts": parts}


def write(path: Path, text: str) -> None:
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from graph.fileio import atomic_write_text
    except Exception:  # noqa: BLE001: graph/ needs pydantic; a bare machine may lack it
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        return
    atomic_write_text(path, text)


def main() -> int:
    out_dir, env_status, seconds = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    result = summary(out_dir, env_status, seconds)
    write(out_dir / "gpu_check.json", json.dumps(result, indent=1) + "\n")
    print(f"gpu_check: {result['status']}"
          + (f" ({result['reason']})" if result["reason"] else "")
          + (f"; failed: {', '.join(result['failed'])}" if result["failed"] else "")
          + f"; {result['seconds']} s; {out_dir / 'gpu_check.json'}")
    return 1 if result["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
