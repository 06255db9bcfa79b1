"""What a sweep's views show (issue 29 item 4), read from its Optuna study: the trials as
rows, Optuna's parameter importance, the Pareto front. Plain data (dicts and lists), so the
app draws it without computing it, and a sweep running on another thread hands it over whole.

    snap = snapshot(sweep)          # runtime.sweep.Sweep, after each trial
    snap["trials"][0] == {"number": 0, "state": "complete", "values": [0.31], "params": {...},
                          "run": "20261207-…", "seconds": 2.4, "message": ""}
"""
from __future__ import annotations

import math

STATES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running",
          "WAITING": "waiting"}


def trial_rows(study) -> list[dict]:
    """Every trial of the study, oldest first (a trial a kill or Stop cut short: 'interrupted')."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        state = STATES.get(t.state.name, t.state.name.lower())
        if t.user_attrs.get("interrupted"):
            state = "interrupted"
        values = list(t.values) if t.values is not None else None
        rows.append({"number": t.number, "state": state, "values": values,
                     "params": dict(t.params), "run": t.user_attrs.get("run", ""),
                     "seconds": t.user_attrs.get("seconds"),
                     "message": t.user_attrs.get("message", "")})
    return rows


def importances(study, multi: bool = False) -> dict[str, float] | None:
    """Optuna's parameter importance (its default evaluator) over the complete trials of the
    metric; None below two complete trials or when Optuna cannot say (one value everywhere)."""
    from optuna.importance import get_param_importances
    from optuna.trial import TrialState
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(done) < 2:
        return None
    try:
        out = get_param_importances(study, target=(lambda t: t.values[0]) if multi else None)
    except (RuntimeError, ValueError, ZeroDivisionError):
        return None
    out = {k: float(v) for k, v in out.items() if math.isfinite(v)}
    return out or None


def pareto(study) -> list[int]:
    """The numbers of the trials on a multi-objective study's Pareto front."""
    return sorted(t.number for t in study.best_trials)


def snapshot(sweep) -> dict:
    """Everything the views show of a sweep (a runtime.sweep.Sweep) as it stands."""
    study = sweep.study
    rows = trial_rows(study)
    complete = sum(r["state"] == "complete" for r in rows)
    return {"journal": str(sweep.journal), "root": str(sweep.root), "metric": sweep.metric,
            "direction": sweep.direction, "multi": sweep.multi,
            "search": [e.to_dict() for e in sweep.search], "total": sweep.total,
            "counted": len(sweep.counted()), "trials": rows,
            "importance": importances(study, sweep.multi) if complete >= 2 else None,
            "pareto": pareto(study) if sweep.multi and complete else []}
