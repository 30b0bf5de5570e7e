"""The `gconv` command: counts, tables and clear errors (exit 2, one line, no traceback)."""
import csv
import io
import json

import pytest

from gconvlib.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv, params, params_no_bn, macs", [
    (["mobilenet_v1"], None, 4_210_088, 568_740_352),
    (["mobilenet_v1", "--scheme", "e2gc", "--group-size", "32"], None, 5_593_928, 1_107_705_856),
    (["resnext50", "--scheme", "fggc", "--groups", "32"], None, 24_960_680, 4_230_479_872),
    (["vgg13_bn", "--scheme", "E"], 124_474_528, None, 2_349_531_136),
    (["wrn28", "--width", "10", "--scheme", "gc2l", "--groups", "16"], 2_539_994, None, None),
])
def test_count_json(capsys, argv, params, params_no_bn, macs):
    code, out, _ = run(capsys, "count", *argv, "--json")
    assert code == 0
    got = json.loads(out)
    assert set(got) == {"params", "params_no_bn", "macs", "params_trained"}
    for key, want in (("params", params), ("params_no_bn", params_no_bn), ("macs", macs)):
        if want is not None:
            assert got[key] == want


def test_count_honours_classes_and_input_size(capsys):
    _, out, _ = run(capsys, "count", "mobilenet_v1", "--num-classes", "10", "--input-size", "112", "--json")
    small = json.loads(out)
    _, out, _ = run(capsys, "count", "mobilenet_v1", "--json")
    full = json.loads(out)
    assert full["params"] - small["params"] == 990 * 1025  # FC 1024 -> 1000 vs -> 10, with bias
    assert small["macs"] < full["macs"] / 3


@pytest.mark.parametrize("argv, message", [
    (["resnext50", "--scheme", "fggc", "--groups", "3"], "stage1.block0.grouped (128->128 channels): 3 groups do not divide"),
    (["mobilenet_v1", "--scheme", "e2gc", "--group-size", "64"], "G=64 is larger than its 32 input channels"),
    (["foo"], "unknown model 'foo'"),
    (["mobilenet_v1", "--scheme", "bogus", "--groups", "2"], "unknown conv scheme 'bogus'"),
    (["wrn28", "--scheme", "e2gc", "--groups", "2"], "takes a group size G"),
    (["vgg13_bn", "--scheme", "Z"], "unknown VGG grouping scheme 'Z'"),
    (["vgg13_bn", "--groups", "4"], "VGG schemes fix their own group counts"),
    (["mobilenet_v1", "--num-classes", "0"], "--num-classes must be at least 1"),
])
def test_bad_input_gets_a_clear_error(capsys, argv, message):
    code, out, err = run(capsys, "count", *argv)
    assert code == 2 and out == ""
    assert message in err and "Traceback" not in err


def test_tables_csv(capsys):
    code, out, _ = run(capsys, "tables", "--paper", "e2gc", "--csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["paper", "table", "model", "variant", "quantity", "unit", "paper_value",
                             "reproduced_value"]
    assert len(rows) == 44  # Tables III and IV: 11 variants x 2 models x (Params, MACs)
    g32 = next(r for r in rows if r["variant"] == "E2GC G=32" and r["quantity"] == "macs"
               and r["model"] == "mobilenet_v1")
    assert g32["unit"] == "M" and abs(float(g32["reproduced_value"]) - 1107.705856) < 1e-6


def test_tables_says_the_vgg_paper_prints_no_counts(capsys):
    code, out, err = run(capsys, "tables", "--paper", "vgg")
    assert code == 0 and "prints no Params or MACs" in out


def test_layers_lists_every_conv_and_fc(capsys):
    code, out, _ = run(capsys, "layers", "mobilenet_v1", "--csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 1 + 26 + 1  # stem, 13 grouped + 13 pointwise, FC
    assert sum(int(r["macs"]) for r in rows) == 568_740_352
