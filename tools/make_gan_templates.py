"""Writes the GAN templates (templates/gan.json, and gan_digits.json when it exists here)
through the Graph API. Re-run after changing them here; the files are what ships (and what
the tests train).

    .venv/bin/python tools/make_gan_templates.py
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graph.layout import DX, DY, ROW_GAP  # noqa: E402
from graph.model import Graph  # noqa: E402
from graph.project import Project  # noqa: E402
from graph.settings import DataSettings, OptimizerRecord, TrainingSettings  # noqa: E402
from tools.make_recurrent_templates import wire  # noqa: E402

GAME = ("Two optimizer records play the seed's minimax game, min_G max_D E[log D(x)] + "
        "E[log(1 − D(G(z)))]: the discriminator's record updates the 'discriminator' "
        "sub-network on L_D (real samples scored against generated ones, G(z) coming through "
        "a Stop gradient node), then the generator's record updates the 'generator' "
        "sub-network on the non-saturating −log D(G(z)). The Shared network nodes run the "
        "same discriminator again on G(z): one set of weights, three uses. D(x) and D(G(z)) "
        "are logged beside both losses; ½ each is the game's equilibrium.")
DECAY = ("Both learning rates fall from 0.001 to 0.00001 along a cosine (lr_end): with a "
         "constant rate the players keep circling and the share of good samples swings "
         "between 40 % and 95 % from one run to the next; decayed, they settle.")


def _mlp(g: Graph, prefix: str, sizes: list[int], act: str, params: dict,
         src: tuple[str, str]) -> list[str]:
    names = []
    for i, n in enumerate(sizes, 1):
        lin = f"{prefix}{i}"
        g.add_node("Linear", lin, {"out_features": n})
        wire(g, src, (lin, "x"))
        names.append(lin)
        src = (lin, "y")
        if i < len(sizes):
            a = f"{prefix}{i}_act"
            g.add_node(act, a, dict(params))
            wire(g, src, (a, "x"))
            names.append(a)
            src = (a, "y")
    return names


def _game(g: Graph, gen: list[str], disc: list[str]) -> None:
    """The two players' sub-networks and losses: D on the real batch (its own chain), on G(z)
    through a Stop gradient for its loss, and on G(z) for the generator's."""
    g.add_node("Detach", "detach")
    g.add_node("SharedNetwork", "d_on_fake", {"subnet": "discriminator"})
    g.add_node("SharedNetwork", "d_on_gen", {"subnet": "discriminator"})
    g.add_node("DiscriminatorLoss", "d_loss")
    g.add_node("GeneratorLoss", "g_loss")
    wire(g, (gen[-1], "y"), ("detach", "x"))
    wire(g, ("detach", "y"), ("d_on_fake", "x"))
    wire(g, (gen[-1], "y"), ("d_on_gen", "x"))
    wire(g, (disc[-1], "y"), ("d_loss", "real"))
    wire(g, ("d_on_fake", "y"), ("d_loss", "fake"))
    wire(g, ("d_on_gen", "y"), ("g_loss", "fake"))
    g.set_subnet("generator", gen)
    g.set_subnet("discriminator", disc)


def _rows(g: Graph, rows: list[list[str]], top: float = 0.0) -> None:
    for r, row in enumerate(rows):
        for i, n in enumerate(row):
            if n:
                g.move_node(n, (i * DX, top + r * (DY + ROW_GAP)))


def gan() -> Project:
    g = Graph()
    g.add_node("Noise", "z", {"shape": [8], "distribution": "normal"})
    gen = _mlp(g, "g", [128, 128, 2], "ReLU", {}, ("z", "z"))
    g.add_node("Output", "samples")
    wire(g, (gen[-1], "y"), ("samples", "x"))
    g.add_node("Input", "x", {"shape": [2]})
    disc = _mlp(g, "d", [128, 128, 1], "LeakyReLU", {"negative_slope": 0.2}, ("x", "out"))
    _game(g, gen, disc)
    _rows(g, [["z", *gen, "samples"],
              ["", "", "", "", "detach", "d_on_fake", "d_on_gen", "g_loss"],
              ["x", *disc, "d_loss"]])
    return Project(
        graph=g, name="GAN (ring of 8 Gaussians)",
        description=(
            "A generative adversarial network: the generator G (top row, an MLP) turns "
            "8-D noise z into points in the plane, the discriminator D (bottom row) tells "
            "them from real points of a ring of 8 Gaussians. " + GAME + " The live view "
            "plots real and generated points while it trains and counts the modes covered "
            "(a generated point within 3σ of a centre); a generator that collapses onto a "
            "few modes is the GAN's best-known failure. " + DECAY + " Export gives the "
            "generator alone: noise in, points out."),
        training=TrainingSettings(
            recipe="adversarial", batch_size=256, epochs=140, val_split=0.1, seed=0,
            optimizers=[
                OptimizerRecord(name="discriminator", subnet="discriminator",
                                losses=["d_loss"], lr=1e-3, lr_end=1e-5, beta1=0.5),
                OptimizerRecord(name="generator", subnet="generator", losses=["g_loss"],
                                lr=1e-3, lr_end=1e-5, beta1=0.5)],
            best_metric="quality"),
        data=DataSettings(dataset="ring", options={"n_samples": 20000}, bind={"x": "x"}))


def gan_digits() -> Project:
    g = Graph()
    g.add_node("Noise", "z", {"shape": [32], "distribution": "normal"})
    gen = _mlp(g, "g", [256, 256, 64], "ReLU", {}, ("z", "z"))
    g.add_node("Sigmoid", "pixels")
    g.add_node("Reshape", "to_image", {"shape": [1, 8, 8]})
    wire(g, (gen[-1], "y"), ("pixels", "x"))
    wire(g, ("pixels", "y"), ("to_image", "x"))
    gen += ["pixels", "to_image"]
    g.add_node("Output", "digits")
    wire(g, ("to_image", "y"), ("digits", "x"))
    g.add_node("Input", "image", {"shape": [1, 8, 8]})
    g.add_node("Flatten", "flatten")
    wire(g, ("image", "out"), ("flatten", "x"))
    disc = ["flatten"] + _mlp(g, "d", [256, 256, 1], "LeakyReLU", {"negative_slope": 0.2},
                              ("flatten", "y"))
    _game(g, gen, disc)
    _rows(g, [["z", *gen, "digits"],
              ["", "", "", "", "", "", "detach", "d_on_fake", "d_on_gen", "g_loss"],
              ["image", *disc, "d_loss"]])
    return Project(
        graph=g, name="GAN (8 x 8 digits)",
        description=(
            "A generative adversarial network that writes digits: the generator G (top row) "
            "turns 32-D noise z into 8 × 8 images (64 sigmoid pixels, reshaped), the "
            "discriminator D (bottom row) tells them from the 1,797 real handwritten digits. "
            + GAME + " The live view shows a grid of generated digits for the same noise "
            "all run long; the epoch metrics say how many of the 10 digits a quick "
            "classifier reads in them and how sure it is (tests/benchmarks/bench_gan.py "
            "judges them with the cnn template's classifier). Export gives the generator "
            "alone: noise in, images out."),
        training=TrainingSettings(
            recipe="adversarial", batch_size=64, epochs=230, val_split=0.1, seed=0,
            optimizers=[
                OptimizerRecord(name="discriminator", subnet="discriminator",
                                losses=["d_loss"], lr=1e-3, beta1=0.5),
                OptimizerRecord(name="generator", subnet="generator", losses=["g_loss"],
                                lr=1e-3, beta1=0.5)],
            best_metric="quality"),
        data=DataSettings(dataset="digits", bind={"image": "x"}))


def main() -> None:
    for name, make in (("gan", gan), ("gan_digits", gan_digits)):
        path = ROOT / "templates" / f"{name}.json"
        path.write_text(make().to_json())
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
