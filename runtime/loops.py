"""Build a recurrent loop's module (graph/loops.py): its cell compiled from the block's
definition, with the step's and the states' types the analysis found for the instance."""
from __future__ import annotations

from graph.analysis import Analysis
from graph.blocks import block_name
from graph.loops import cell_graph
from graph.model import Graph

from .recurrent import RecurrentLoop


def compile_cell(graph: Graph, analysis: Analysis, n: str):
    """Loop instance n's cell compiled as a model of its own (its Inputs: the block's inputs,
    in the cell's call order), and each state's shape (no batch)."""
    from .compile import compile_graph
    cell, shapes = cell_graph(graph, n, analysis)
    return compile_graph(cell), shapes


def build_loop(graph: Graph, analysis: Analysis, n: str) -> RecurrentLoop:
    name = block_name(graph.node_type(n))
    d = graph.blocks[name]
    c, shapes = compile_cell(graph, analysis, n)
    return RecurrentLoop(c.model, c.inputs, c.outputs, d.sequence_inputs, d.loop,
                         d.step_outputs, shapes, block=name)
