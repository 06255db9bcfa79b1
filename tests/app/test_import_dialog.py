"""File > Import PyTorch Model… (issue 26): the dialog warns that the file runs, lists what
the file defines, imports on a background thread, shows the report, and refuses in words."""
from pathlib import Path

from PySide6.QtWidgets import QLabel

from app.import_dialog import WARNING, ImportDialog
from tests.zoo import nets

ZOO = str(Path(nets.__file__))


def test_import_a_resnet_from_the_dialog_and_open_it(win, qtbot, tmp_path):
    assert win.a_import.text() == "&Import PyTorch Model…"
    dlg = ImportDialog(win, ZOO)
    qtbot.addWidget(dlg)
    assert WARNING in [lab.text() for lab in dlg.findChildren(QLabel)]
    assert "runs it" in WARNING
    assert dlg.read_file() and dlg.wait()
    names = [dlg.name.itemText(i) for i in range(dlg.name.count())]
    assert {"ResNet", "BasicBlock", "LeNet", "make_mlp"} <= set(names)
    dlg.name.setCurrentText("ResNet")
    assert dlg.inputs.text().strip() == "x="  # one field per forward argument, to fill in
    dlg.inputs.setText("x=2,3,16,16")
    dlg.out.setText(str(tmp_path / "resnet.json"))
    assert dlg.start_import() and dlg.wait()
    text = dlg.report.toPlainText()
    assert "Imported ResNet" in text and "largest difference from the original 0" in text
    assert (tmp_path / "resnet.json").exists() and (tmp_path / "resnet.safetensors").exists()
    assert dlg.go.text() == "Open"
    win.open_path(dlg.saved, ask=False)
    g = win.doc.graph
    assert {"layer1_0", "layer2_1", "fc"} <= set(g.nodes())
    assert g.node_type("layer1_0").startswith("block:") and len(g.blocks) == 3


def test_a_refused_import_is_said_in_the_dialog_and_writes_nothing(win, qtbot, tmp_path):
    dlg = ImportDialog(win, ZOO)
    qtbot.addWidget(dlg)
    assert dlg.read_file() and dlg.wait()
    dlg.name.setCurrentText("Unmapped")
    dlg.inputs.setText("x=2,4")
    (tmp_path / "out").mkdir()
    dlg.out.setText(str(tmp_path / "out" / "u.json"))
    assert dlg.start_import() and dlg.wait()
    text = dlg.report.toPlainText()
    assert text.startswith("Not imported:") and "torch.cumsum" in text and "line" in text
    assert not list((tmp_path / "out").iterdir())
    dlg.inputs.setText("x=2,a")
    assert not dlg.start_import()
    assert "Inputs:" in dlg.report.toPlainText()
    bad = ImportDialog(win, str(tmp_path / "missing.py"))
    qtbot.addWidget(bad)
    assert bad.read_file() and bad.wait()
    assert "no such file" in bad.report.toPlainText() and not bad.go.isEnabled()


def test_import_onnx_from_the_dialog_with_inputs_read_from_the_file(win, qtbot, tmp_path):
    import torch
    model = nets.LeNet().eval()
    path = tmp_path / "lenet.onnx"
    torch.onnx.export(model, (torch.randn(1, 1, 28, 28),), str(path), input_names=["image"],
                      dynamo=False)
    assert win.a_import_onnx.text() == "Import O&NNX…"
    dlg = ImportDialog(win, str(path), onnx=True)
    qtbot.addWidget(dlg)
    assert not dlg.name.isVisible() and "read, not run" in dlg.findChildren(QLabel)[0].text()
    assert dlg.read_file() and dlg.wait()
    assert dlg.inputs.text() == "image=1,1,28,28"
    dlg.out.setText(str(tmp_path / "lenet.json"))
    assert dlg.start_import() and dlg.wait()
    text = dlg.report.toPlainText()
    assert text.startswith("Imported") and (tmp_path / "lenet.safetensors").exists(), text
    win.open_path(dlg.saved, ask=False)
    assert {"Conv2d", "Linear", "LogSoftmax"} <= {win.doc.graph.node_type(n)
                                                  for n in win.doc.graph.nodes()}
