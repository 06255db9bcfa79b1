"""Training and inference phases of a graph (issue 11).

Training and inference can differ: a sequence-to-sequence decoder is fed the true previous
token in training (teacher forcing) and its own prediction at inference, one step at a time.
Both are drawn on the canvas:

- a node whose spec has phase "train" (and everything after it) exists in the training graph
  only, like Targets and losses; phase "infer" (a Greedy decode node and what follows it):
  in the inference graph only, the model that exports and that the Try panel runs;
- an input port with phase "train" (a Teacher forcing node's `target`) is wired in training
  only: in the inference graph that node reads nothing there;
- an input port with phase "infer" (Mask RoIs' detections) is wired at inference only: the
  training objective leaves it out, and what the node reads there does not make it
  inference-only;
- a "feedback" node (Teacher forcing) gives the decoder its previous tokens: in training the
  target shifted right by one behind a start token; at inference the tokens a "decode" node
  (Greedy decode) has produced so far. The decode node runs the decoder's nodes, those after
  the feedback node and before the decode node's logits (the *step*), once per output token.

This module reads the graph only (standard library and graph): compile and analysis use it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .model import Graph


@dataclass
class Phases:
    training_only: set[str] = field(default_factory=set)  # not in the inference graph
    inference_only: set[str] = field(default_factory=set)  # not in the training objective
    # decode node -> its feedback node, and the step: the nodes it runs per token, in order
    feedback: dict[str, str] = field(default_factory=dict)
    steps: dict[str, list[str]] = field(default_factory=dict)
    # nodes that read a feedback node's tokens outside a decode node's step (teacher-forced
    # views, such as attention weights wired to an Output): not in the inference model
    teacher_forced: set[str] = field(default_factory=set)
    problems: list[tuple[str, str | None, str, str]] = field(default_factory=list)

    def model_nodes(self, order: list[str]) -> list[str]:
        """The inference graph's nodes outside every decode step, in order."""
        out = self.training_only | self.teacher_forced
        return [n for n in order if n not in out]

    def training_nodes(self, order: list[str]) -> list[str]:
        return [n for n in order if n not in self.inference_only]


def find_phases(graph: Graph, order: list[str]) -> Phases:
    ph = Phases()
    spec = graph.spec
    title = {n: f"{spec(n).title} '{n}'" for n in order}
    for n in order:
        s = spec(n)
        if s.phase == "infer" or any(e.src in ph.inference_only
                                     and s.input(e.dst_port).phase != "infer"
                                     for e in graph.in_edges(n)):
            ph.inference_only.add(n)
        if s.role in ("target", "loss") or s.phase == "train" or any(
                e.src in ph.training_only and s.input(e.dst_port).phase != "train"
                for e in graph.in_edges(n)):
            ph.training_only.add(n)

    # What each node reads through a feedback node without a decode node between them.
    reads: dict[str, set[str]] = {}
    for n in order:
        s = spec(n)
        got: set[str] = {n} if s.role == "feedback" else set()
        if s.role != "decode":
            for e in graph.in_edges(n):
                got |= reads.get(e.src, set())
        reads[n] = got

    for g in order:
        if spec(g).role != "decode":
            continue
        logits = [e.src for e in graph.in_edges(g)]
        fbs = set().union(*(reads.get(src, set()) for src in logits)) if logits else set()
        if not fbs:
            if logits:
                ph.problems.append((g, None, f"{title[g]} feeds its tokens back to a decoder, "
                                             "but no Teacher forcing node is before it: put one "
                                             "where the decoder reads its previous tokens",
                                    "error"))
            continue
        if len(fbs) > 1:
            names = ", ".join(f"'{f}'" for f in sorted(fbs))
            ph.problems.append((g, None, f"{title[g]} reads {len(fbs)} Teacher forcing nodes "
                                         f"({names}): one decoder loop feeds one of them",
                                "error"))
            continue
        fb = next(iter(fbs))
        ancestors = upstream(graph, logits)
        step = [n for n in order if fb in reads[n] and (n in ancestors or n == fb)]
        bad = [n for n in step for e in graph.in_edges(n)
               if e.src in ph.training_only and spec(n).input(e.dst_port).phase != "train"]
        if bad:
            n = bad[0]
            src = next(e.src for e in graph.in_edges(n) if e.src in ph.training_only)
            target = _target_behind(graph, src, ph)
            via = f" (it depends on Target '{target}')" if target and target != src else ""
            ph.problems.append((n, None, f"{title[n]} is part of the decoder that {title[g]} "
                                         f"runs, but it reads '{src}'{via}, which exists in "
                                         "training only: at inference the decoder sees its own "
                                         "tokens through the Teacher forcing node only",
                                "error"))
            continue
        ph.feedback[g], ph.steps[g] = fb, step

    looped = set(ph.feedback.values())
    for n in order:
        if reads.get(n) and spec(n).role != "decode":
            ph.teacher_forced.add(n)
    for fb in (n for n in order if spec(n).role == "feedback" and n not in looped):
        ph.problems.append((fb, None, f"{title[fb]} has no Greedy decode after it: the "
                                      "decoder it feeds is trained but left out of the model "
                                      "that exports and that the Try panel runs", "warning"))

    for n in order:
        if spec(n).role != "output":
            continue
        if n in ph.teacher_forced and n not in ph.training_only:
            fb = sorted(reads[n])[0]
            target = next((e.src for e in graph.in_edges(fb)), None)
            via = f", which is fed Target '{target}' in training" if target else ""
            ph.problems.append((n, None, f"{title[n]} depends on the decoder's previous tokens "
                                         f"from Teacher forcing '{fb}'{via}: it is left out of "
                                         "the model that exports and that the Try panel runs; "
                                         "wire it from a Greedy decode node", "warning"))
            continue
        if n not in ph.training_only:
            continue
        target = _target_behind(graph, n, ph)
        if target is not None:
            ph.problems.append((n, None, f"{title[n]} depends on Target '{target}', so it is "
                                         "left out of the model that exports and that the Try "
                                         "panel runs (at inference there is no target); a "
                                         "decoder fed the target needs a Teacher forcing node "
                                         "and a Greedy decode", "warning"))
    return ph


def upstream(graph: Graph, starts) -> set[str]:
    """`starts` and every node they read from, directly or not (along the wires: a Shared
    network node reads its own input only; the sub-network it applies runs inside it)."""
    starts = list(starts)
    seen, stack = set(starts), list(starts)
    while stack:
        for e in graph.in_edges(stack.pop()):
            if e.src not in seen:
                seen.add(e.src)
                stack.append(e.src)
    return seen


def _target_behind(graph: Graph, n: str, ph: Phases) -> str | None:
    """The Target that puts `n` in the training graph only, if one does."""
    seen, stack = {n}, [n]
    while stack:
        m = stack.pop()
        if graph.spec(m).role == "target":
            return m
        for e in graph.in_edges(m):
            if graph.spec(m).input(e.dst_port).phase == "train":
                continue
            if e.src in ph.training_only and e.src not in seen:
                seen.add(e.src)
                stack.append(e.src)
    return None
