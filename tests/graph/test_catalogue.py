from graph import catalogue
from graph.spec import Param

# Type ids are frozen: saved files use them. Renaming one breaks users' projects.
FROZEN_IDS = {
    "Input", "Target", "Output", "Linear", "Perceptron", "Dropout", "Flatten", "Reshape",
    "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Softmax", "Step", "Conv2d", "MaxPool2d",
    "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Add", "Concat", "MSELoss", "BCELoss",
    "CategoricalCrossEntropyLoss", "HingeLoss", "HuberLoss", "SmoothL1Loss",
}


def test_no_type_id_was_renamed_or_dropped():
    assert FROZEN_IDS <= set(catalogue.SPECS)


def test_every_spec_is_complete():
    for s in catalogue.SPECS.values():
        assert s.doc.summary and s.doc.use_case, s.type
        assert s.category in catalogue.CATEGORIES
        assert s.color.startswith("#") and len(s.color) == 7
        assert s.id_prefix.isidentifier()
        if s.role in ("layer", "loss"):
            assert s.build is not None and s.doc.formula, s.type
        names = [p.name for p in s.inputs] + [p.name for p in s.outputs]
        assert len(names) == len(set(names)), s.type
        for p in s.params:
            assert p.check(p.default) is None and p.help, (s.type, p.name)


def test_seed_formulas_are_in_the_help():
    doc = {k: s.doc for k, s in catalogue.SPECS.items()}
    assert "1 / (1 + e⁻ˣ)" in doc["Sigmoid"].formula
    assert "max(0, x)" in doc["ReLU"].formula
    assert "(I − F + 2P) / S + 1" in doc["Conv2d"].formula
    assert "wᵢ ← wᵢ + η (y − ŷ) xᵢ" in doc["Perceptron"].formula
    assert "δ" in doc["HuberLoss"].formula
    assert "[[6,8],[9,5]]" in doc["MaxPool2d"].use_case
    assert "0.01" in doc["LeakyReLU"].formula


def test_losses_carry_weight_and_metric():
    for s in catalogue.SPECS.values():
        if s.role == "loss":
            assert s.param("weight").default == 1.0
            roles = [p.role for p in s.inputs]
            if s.type == "BoxRegressionLoss":  # reads only the object RoIs' own class
                assert [p.name for p in s.inputs] == ["pred", "target", "labels"]
            elif s.type == "MaskLoss":  # the matched class's channel, targets cut per RoI
                assert [p.name for p in s.inputs] == ["pred", "labels", "rois", "matched",
                                                      "gt_masks"]
                assert "target" not in roles  # no accuracy metric: mask mAP instead
            elif s.type in ("GaussianNLLLoss", "CosineEmbeddingLoss", "MarginRankingLoss",
                            "TripletMarginLoss"):  # torch.nn's losses of three inputs
                assert roles[0] == "pred" and roles.count("target") <= 1 and len(roles) == 3
            elif s.category == "Loss" and s.type not in ("DiscriminatorLoss", "GeneratorLoss"):
                assert [p.name for p in s.inputs] == ["pred", "target"]
            else:  # a GAN's losses judge the discriminator's scores: no target
                assert roles[0] == "pred" and "target" not in roles
            assert s.outputs[0].kind == "loss"


def test_init_param_on_weight_layers():
    for t in ("Linear", "Conv2d", "Perceptron"):
        assert catalogue.get(t).param("init").choices == ("default", "xavier", "he")


def test_param_checks_say_why():
    p = Param("k", "int", 3, "h", min=1, max=5)
    assert p.check(0) == "must be >= 1"
    assert p.check(6) == "must be <= 5"
    assert p.check(2.5) == "must be a whole number"
    assert p.check(True) == "must be a whole number"
    pad = catalogue.get("Conv2d").param("padding")
    assert pad.check("same") is None and pad.check(2) is None
    assert "valid" in pad.check("full")
    dims = catalogue.get("Reshape").param("shape")
    assert dims.check([-1, 4]) is None
    assert dims.check([-1, -1]) == "only one size may be -1"
