"""Checks of data/paper/values.csv (published numbers) and gconvlib.paper."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from gconvlib import paper as pv

PAPERS_DIR = Path(__file__).parents[1].parent / "shared" / "papers"
PAPER_FILES = {
    "e2gc": "000_824a09315b932ae3.txt",
    "gc2l": "001_cbbf3df2b55d1ff0.txt",
    "vgg": "002_c4ad27d0ba70151e.txt",
}
KEY = ["paper", "ref", "model", "scheme", "k", "quantity", "dataset", "device", "batch_size"]
E2GC_QUANTITIES = [  # column order of E2GC Tables III/IV
    ("params", "", "", None), ("macs", "", "", None),
    ("epf", "", "P100", 1), ("epf", "", "P100", 4), ("epf", "", "P100", 16),
    ("epf", "", "P4000", 1), ("epf", "", "P4000", 4), ("epf", "", "P4000", 16),
    ("top1", "ImageNet-1K", "", None), ("top1", "Food-101", "", None),
]
PRINTED = re.compile(r'printed: "([^"]+)"')


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return pv.load_values()


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    if not PAPERS_DIR.is_dir():
        pytest.skip(f"paper texts not available at {PAPERS_DIR}")
    return {p: (PAPERS_DIR / f).read_text(encoding="utf-8") for p, f in PAPER_FILES.items()}


# ----------------------------------------------------------------- schema


def test_csv_header_exact():
    with pv.values_path().open(newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert header == list(pv.COLUMNS)
    assert header == ("paper,ref,model,scheme,k,quantity,dataset,device,batch_size,"
                      "unit,value,source,note").split(",")


def test_loaded_types(df):
    assert list(df.columns) == [*pv.COLUMNS[:11], "value_text", *pv.COLUMNS[11:]]
    assert str(df["k"].dtype) == "Int64" and str(df["batch_size"].dtype) == "Int64"
    assert df["value"].dtype == float
    assert all(math.isfinite(v) for v in df["value"])
    # value_text is the printed number and parses to value
    assert (df["value_text"].astype(float) == df["value"]).all()
    assert df["value_text"].str.fullmatch(r"\d+(\.\d+)?").all()


def test_categorical_columns(df):
    assert set(df["paper"]) == set(pv.PAPERS)
    assert set(df["source"]) == {"text", "words"}  # every row is printed in a paper
    # a number word is marked as such (its value is our reading of the word): GC-2L Sec. 4.1.2 only
    words = df[df["source"] == "words"]
    assert set(words["ref"]) == {"Sec. 4.1.2"} and set(words["unit"]) == {"x"}
    assert all(re.search(r"\b(half|third|quarter)\b", n) for n in words["note"])
    assert set(df["quantity"]) <= set(pv.QUANTITIES)
    assert set(df["dataset"]) <= {"", "ImageNet-1K", "Food-101", "CIFAR-10", "CIFAR-100",
                                  "ImageNet", "Kuzushiji"}
    assert set(df["device"]) <= {"", "P100", "P4000", "Titan RTX"}
    models = {"e2gc": {"", "mobilenet_v1", "resnext50"},
              "gc2l": {"", "wrn28_10", "wrn34_2", "mobilenet_v2", "wrn28_40", "wrn28_60", "wrn28_80"},
              "vgg": {"", "vgg13_bn"}}
    schemes = {"e2gc": {"", "e2gc", "fggc"},
               "gc2l": {"", "standard", "gc", "gc2l", "shuffle", "flgc"},
               "vgg": {"", "baseline", "A", "B", "C", "D", "E"}}
    for paper, sub in df.groupby("paper"):
        assert set(sub["model"]) <= models[paper], paper
        assert set(sub["scheme"]) <= schemes[paper], paper
    assert df.loc[df["paper"] == "vgg", "k"].isna().all()
    assert (df.loc[df["scheme"] == "standard", "k"] == 1).all()


def test_units_valid_for_quantity(df):
    assert set(df["unit"]) <= pv.UNITS
    for row in df.itertuples():
        allowed, _ = pv.QUANTITIES[row.quantity]
        assert row.unit in allowed, (row.paper, row.ref, row.quantity, row.unit)
    # MACs unit as in the table headers
    e2 = df[(df["paper"] == "e2gc") & (df["quantity"] == "macs")]
    assert set(e2.loc[e2["model"] == "mobilenet_v1", "unit"]) == {"M"}
    assert set(e2.loc[e2["model"] == "resnext50", "unit"]) == {"G"}


def test_epf_rows_have_device_and_batch(df):
    epf = df["quantity"] == "epf"
    assert df.loc[epf, "device"].isin(["P100", "P4000"]).all()
    assert set(df.loc[epf, "batch_size"]) == {1, 4, 16}
    assert df.loc[~epf, "batch_size"].isna().all()
    wall = df["quantity"] == "wall_clock"
    assert (df.loc[wall, "device"] == "Titan RTX").all()


def test_no_duplicate_keys_within_ref(df):
    key = df[KEY + ["note"]].astype(str)
    dup = key[key.duplicated(keep=False)]
    assert dup.empty, dup
    # rows told apart only by note are the split / min-max ones
    by_key = df[df[KEY].astype(str).duplicated(keep=False)]
    assert set(by_key["quantity"]) <= {"dataset_size", "split_ratio", "train_loss", "val_loss"}
    for note in by_key["note"]:
        assert re.match(r"(train|val|test|total|min|max)\b", note), note


def test_no_computed_values_for_the_vgg_paper(df):
    """The VGG paper prints no Params or MACs (Fig. 10 is a plot whose values are not in the text):
    values.csv holds no numbers of our own computation for it."""
    vgg = df[df["paper"] == "vgg"]
    assert "Fig. 10" not in set(vgg["ref"])
    assert not vgg["quantity"].isin(["params", "macs"]).any()
    assert not (df["source"] == "reference").any()


def test_gc2l_sec412_number_words(df):
    """'reduced by about half' / 'almost a third' / ideal 'quarter' / params 'by half' (Sec. 4.1.2)."""
    rows = df[(df["paper"] == "gc2l") & (df["ref"] == "Sec. 4.1.2")]
    got = {(r.model, r.quantity): r.value_text for r in rows.itertuples()}
    assert got == {("wrn28_40", "wall_clock_ratio"): "0.5", ("wrn28_60", "wall_clock_ratio"): "0.33",
                   ("wrn28_80", "wall_clock_ratio"): "0.33", ("", "wall_clock_ratio"): "0.25",
                   ("", "params_ratio"): "0.5"}
    assert set(rows["unit"]) == {"x"} and set(rows["scheme"]) == {"gc2l"} and rows["k"].isna().all()
    assert set(rows.loc[rows["model"] != "", "device"]) == {"Titan RTX"}
    # the params ratio is what Table 2 prints when P doubles
    for width in (40, 60, 80):
        p = {k: pv.lookup("gc2l", "Table 2", f"wrn28_{width}", s, k, "params")
             for s, k in (("standard", 1), ("gc2l", 2), ("gc2l", 4))}
        assert abs(p[2] / p[1] - 0.5) < 0.002 and abs(p[4] / p[2] - 0.5) < 0.002


def test_vgg_split_ratio_rows(df):
    rows = df[df["quantity"] == "split_ratio"]
    assert [(r.note.split(";")[0], r.value) for r in rows.itertuples()] == [("train", 16), ("val", 4), ("test", 5)]
    assert set(rows["paper"]) == {"vgg"} and set(rows["dataset"]) == {"Kuzushiji"}


# ------------------------------------------------------------- completeness


@pytest.mark.parametrize("ref,model", [("Table III", "mobilenet_v1"), ("Table IV", "resnext50")])
def test_e2gc_tables_complete(df, ref, model):
    t = df[(df["paper"] == "e2gc") & (df["ref"] == ref)]
    assert set(t["model"]) == {model}
    variants = set(zip(t["scheme"], t["k"]))
    assert variants == {("e2gc", G) for G in (1, 2, 4, 8, 16, 32)} | {("fggc", g) for g in (2, 4, 8, 16, 32)}
    assert len(variants) == 11 and len(t) == 110
    for (scheme, k), rows in t.groupby(["scheme", "k"]):
        got = sorted((r.quantity, r.dataset, r.device, -1 if pd.isna(r.batch_size) else r.batch_size)
                     for r in rows.itertuples())
        want = sorted((q, d, dev, -1 if b is None else b) for q, d, dev, b in E2GC_QUANTITIES)
        assert got == want, (ref, scheme, k)


def test_row_counts_per_table(df):
    counts = df.groupby(["paper", "ref"]).size().to_dict()
    assert counts[("e2gc", "Table III")] == 110
    assert counts[("e2gc", "Table IV")] == 110
    assert counts[("gc2l", "Table 1")] == 9 * 3 + 9 * 2
    assert counts[("gc2l", "Table 2")] == 9 * 3
    assert counts[("gc2l", "Table 3")] == 16 * 3 + 16 * 2
    assert counts[("gc2l", "Table 4")] == 13 * 2
    assert ("vgg", "Fig. 10") not in counts
    assert counts[("gc2l", "Sec. 4.1.2")] == 5
    assert len(df) == 450

    def variants(ref, model):
        t = df[(df["paper"] == "gc2l") & (df["ref"] == ref) & (df["model"] == model)]
        return set(zip(t["scheme"], t["k"]))

    grouped = {(s, g) for s in ("gc", "gc2l") for g in (2, 4, 8, 16)}
    for model in ("wrn28_10", "wrn34_2"):
        assert variants("Table 1", model) == {("standard", 1)} | grouped
        assert variants("Table 3", model) == {(s, g) for s in ("gc", "shuffle", "flgc", "gc2l") for g in (2, 4, 8, 16)}
    assert variants("Table 4", "mobilenet_v2") == {("standard", 1)} | {
        (s, g) for s in ("gc", "shuffle", "flgc", "gc2l") for g in (2, 4, 8)}
    for width in (40, 60, 80):
        assert variants("Table 2", f"wrn28_{width}") == {("standard", 1), ("gc2l", 2), ("gc2l", 4)}


def test_required_text_claims_present():
    expect = [
        (("e2gc", "Abstract", "mobilenet_v1", "e2gc", None, "energy_gain"), {"device": "P100"}, 10.8),
        (("e2gc", "Abstract", "resnext50", "e2gc", None, "energy_gain"), {"device": "P100"}, 4.73),
        (("e2gc", "Sec. IV", "mobilenet_v1", "e2gc", 32, "energy_gain"), {"device": "P100"}, 55.4),
        (("e2gc", "Sec. IV", "mobilenet_v1", "e2gc", 32, "energy_gain"), {"device": "P4000"}, 65.4),
        (("e2gc", "Sec. IV", "resnext50", "e2gc", 32, "energy_gain"), {"device": "P100"}, 9.4),
        (("e2gc", "Sec. IV", "resnext50", "e2gc", 32, "energy_gain"), {"device": "P4000"}, 13.1),
        (("e2gc", "Sec. V", "resnext50", "e2gc", 2, "top1_gain"), {}, 3.5),
        (("e2gc", "Sec. V", "mobilenet_v1", "e2gc", 2, "top1_gain"), {}, 3.0),
        (("vgg", "Sec. 3.2", None, None, None, "dataset_size"), {"note_contains": "train;"}, 41770),
        (("vgg", "Sec. 3.2", None, None, None, "dataset_size"), {"note_contains": "val;"}, 10586),
        (("vgg", "Sec. 3.2", None, None, None, "dataset_size"), {"note_contains": "test;"}, 13439),
        (("vgg", "Sec. 3.2", None, None, None, "num_classes"), {}, 1120),
        (("vgg", "Sec. 5.1", "vgg13_bn", "baseline", None, "train_loss"), {}, 0.064),
        (("vgg", "Sec. 5.1", "vgg13_bn", None, None, "train_loss"), {"note_contains": "min"}, 0.062),
        (("vgg", "Sec. 5.1", "vgg13_bn", None, None, "train_loss"), {"note_contains": "max"}, 0.086),
        (("vgg", "Sec. 5.1", "vgg13_bn", "baseline", None, "val_loss"), {}, 1.139),
        (("vgg", "Sec. 5.1", "vgg13_bn", None, None, "val_loss"), {"note_contains": "min"}, 1.199),
        (("vgg", "Sec. 5.1", "vgg13_bn", None, None, "val_loss"), {"note_contains": "max"}, 1.4),
        (("vgg", "Sec. 5.1", "vgg13_bn", "E", None, "val_acc_drop"), {}, 4.04),
        (("vgg", "Sec. 5.1", "vgg13_bn", "E", None, "test_acc_drop"), {}, 2.49),
        (("vgg", "Sec. 5.2", "vgg13_bn", "D", None, "test_acc_drop"), {}, 3.03),
        (("vgg", "Sec. 5.1", "vgg13_bn", "E", None, "macs_drop"), {}, 80),
        (("vgg", "Sec. 5.1", "vgg13_bn", "E", None, "inference_time_drop"), {}, 54.73),
    ]
    for args, extra, value in expect:
        assert pv.lookup(*args, **extra) == pytest.approx(value), (args, extra)


def test_repeated_rows_agree(df):
    """GC-2L Tables 1 and 3 print the same GC / GC-2L rows; E2GC claims match the tables."""
    g = df[df["paper"] == "gc2l"]
    cols = ["model", "scheme", "k", "quantity", "dataset"]
    t1 = g[g["ref"] == "Table 1"].set_index(cols)["value_text"]
    t3 = g[g["ref"] == "Table 3"].set_index(cols)["value_text"]
    common = t1.index.intersection(t3.index)
    assert len(common) == 8 * 3 + 8 * 2
    assert (t1.loc[common] == t3.loc[common]).all()

    def epf(model, scheme, k, device, b):
        ref = "Table III" if model == "mobilenet_v1" else "Table IV"
        return pv.lookup("e2gc", ref, model, scheme, k, "epf", device=device, batch_size=b)

    # "G = 32 is 55.4% / 65.4% more energy-efficient than the baseline (G = 1)": B = 4
    base, g32 = epf("mobilenet_v1", "e2gc", 1, "P100", 4), epf("mobilenet_v1", "e2gc", 32, "P100", 4)
    assert round(100 * (base - g32) / base, 1) == 55.4
    base, g32 = epf("mobilenet_v1", "e2gc", 1, "P4000", 4), epf("mobilenet_v1", "e2gc", 32, "P4000", 4)
    assert round(100 * (base - g32) / base, 1) == 65.4


def test_table2_wall_clock_conversion(df):
    t = df[(df["ref"] == "Table 2") & (df["quantity"] == "wall_clock")]
    assert len(t) == 9
    for row in t.itertuples():
        (printed,) = PRINTED.findall(row.note)
        h, m, s = map(int, re.fullmatch(r"(\d+)h (\d+)m (\d+)s", printed).groups())
        assert row.value == h * 3600 + m * 60 + s
    assert pv.lookup("gc2l", "Table 2", "wrn28_40", "standard", 1, "wall_clock") == 178977


def test_printed_decimals_kept(df):
    e2 = df[df["ref"].isin(["Table III", "Table IV"])]
    assert (e2[e2["quantity"].isin(["params", "top1"])]["value_text"].map(pv.decimals) == 2).all()
    assert (e2[e2["quantity"] == "epf"]["value_text"].map(pv.decimals) == 0).all()
    assert pv.lookup("e2gc", "Table III", "mobilenet_v1", "e2gc", 1, "params") == 4.2
    assert pv.load_values("e2gc", ref="Table III", scheme="e2gc", k=1, quantity="params")["value_text"].item() == "4.20"
    t2 = pv.load_values("gc2l", ref="Table 2", model="wrn28_40", k=2, quantity="params")
    assert t2["value_text"].item() == "292.0"


# ------------------------------------------------------ against paper text


NUMBER_WORDS = {"half": 0.5, "a third": 0.33, "quarter": 0.25}


def _numbers_in(fragment: str) -> set[float]:
    """Numbers a printed fragment states (commas, K/M suffixes, 'XXh YYm ZZs' and the number
    words of GC-2L Sec. 4.1.2: half, a third, quarter)."""
    out = {v for word, v in NUMBER_WORDS.items() if re.search(rf"\b{word}\b", fragment)}
    for num, suffix in re.findall(r"(\d[\d,]*(?:\.\d+)?)\s*([KM]?)", fragment):
        v = float(num.replace(",", ""))
        out.add(v)
        out.add(v * {"": 1, "K": 1e3, "M": 1e6}[suffix])
    for h, m, s in re.findall(r"(\d+)h (\d+)m (\d+)s", fragment):
        out.add(int(h) * 3600 + int(m) * 60 + int(s))
    return out


def test_text_claims_quote_the_paper(df, texts):
    """Every text row outside the tables quotes its sentence, verbatim, holding the value."""
    text_rows = df[df["source"].isin(["text", "words"]) & ~df["ref"].str.startswith("Table")]
    assert len(text_rows) > 40
    for row in text_rows.itertuples():
        frags = PRINTED.findall(row.note)
        assert frags, (row.paper, row.ref, row.quantity, row.note)
        for frag in frags:
            assert frag in texts[row.paper], (row.paper, row.ref, frag)
        assert any(math.isclose(row.value, v) for f in frags for v in _numbers_in(f)), (row.ref, row.value, frags)


def _e2gc_table_lines(text: str, start: str, end: str) -> dict[tuple[str, int], list[str]]:
    lines = text.splitlines()
    i = next(n for n, line in enumerate(lines) if line.startswith(start))
    j = next(n for n in range(i + 1, len(lines)) if lines[n].startswith(end))
    out = {}
    for line in lines[i:j]:
        label = line.split("\t")[0].replace("$", "").replace(" ", "")
        m = re.match(r"(E2GC|FgGC)\([Gg]=(\d+)\)", label)
        if m:
            out[(m.group(1).lower(), int(m.group(2)))] = [v.strip() for v in line.split("\t")[1:] if v.strip()]
    return out


@pytest.mark.parametrize("ref,start,end", [("Table III", "TABLE III:", "TABLE IV:"),
                                           ("Table IV", "TABLE IV:", "Observation 2")])
def test_e2gc_cells_match_paper_rows(df, texts, ref, start, end):
    printed = _e2gc_table_lines(texts["e2gc"], start, end)
    assert len(printed) == 11
    t = df[(df["paper"] == "e2gc") & (df["ref"] == ref)]
    for (scheme, k), cells in printed.items():
        assert len(cells) == 10
        for (q, ds, dev, b), cell in zip(E2GC_QUANTITIES, cells):
            hit = t[(t["scheme"] == scheme) & (t["k"] == k) & (t["quantity"] == q) & (t["dataset"] == ds)
                    & (t["device"] == dev) & (t["batch_size"].eq(b).fillna(False) if b else t["batch_size"].isna())]
            assert hit["value_text"].tolist() == [cell], (ref, scheme, k, q, dev, b)


GC2L_LABEL = {"standard": "SC", "gc": "GC", "gc2l": "GC-2L", "shuffle": "Shuffle", "flgc": "FLGC"}
GC2L_DATASETS = {"wrn28_10": ["CIFAR-10", "CIFAR-100"], "wrn34_2": ["ImageNet"], "mobilenet_v2": ["ImageNet"]}


def _gc2l_blocks(text: str) -> dict[tuple[str, str], str]:
    """Text of each GC-2L table, in the order they appear: T1 (two), T2, T3 (two), T4."""
    heads = [("Table 1", "wrn28_10", "WideResNet-28-10 |"), ("Table 1", "wrn34_2", "WideResNet-34-2 |"),
             ("Table 2", "", "Parameters | Wall-clock time"),
             ("Table 3", "wrn28_10", "WideResNet-28-10 |"), ("Table 3", "wrn34_2", "WideResNet-34-2 |"),
             ("Table 4", "mobilenet_v2", "MobileNetV2 |")]
    lines, pos, starts = text.splitlines(), 0, []
    for _, _, head in heads:
        pos = next(n for n in range(pos, len(lines)) if lines[n].startswith(head))
        starts.append(pos)
        pos += 1
    out = {}
    for (ref, model, _), a in zip(heads, starts):
        b = a + 1
        while b < len(lines) and "|" in lines[b]:
            b += 1
        out[(ref, model)] = "\n".join(lines[a:b])
    return out


def test_gc2l_cells_match_paper_rows(df, texts):
    blocks = _gc2l_blocks(texts["gc2l"])
    g = df[(df["paper"] == "gc2l") & df["ref"].isin(["Table 1", "Table 3", "Table 4"])]
    checked = 0
    for (ref, model, scheme, k), rows in g.groupby(["ref", "model", "scheme", "k"]):
        cells = [rows.loc[rows["quantity"] == "params", "value_text"].item() + "M"]
        for ds in GC2L_DATASETS[model]:
            cells.append(rows.loc[(rows["quantity"] == "error") & (rows["dataset"] == ds), "value_text"].item())
        line = " | ".join([GC2L_LABEL[scheme], str(k), *cells]) + " |"
        assert f"\n{line}" in blocks[(ref, model)], (ref, model, line)
        checked += 1
    assert checked == 18 + 32 + 13
    t2 = df[(df["paper"] == "gc2l") & (df["ref"] == "Table 2")]
    for (model, k), rows in t2.groupby(["model", "k"]):
        q = rows.set_index("quantity")
        wall = PRINTED.findall(q.loc["wall_clock", "note"])[0]
        line = f"{k} | {q.loc['params', 'value_text']}M | {wall} | {q.loc['error', 'value_text']} |"
        if k == 1:
            line = f"{model.split('_')[1]} | {line}"
        assert line in blocks[("Table 2", "")], line


# ------------------------------------------------------------------ loader


def test_values_path_and_constants():
    assert pv.values_path().is_file()
    assert pv.values_path() == Path(pv.__file__).resolve().parent.parent / "data" / "paper" / "values.csv"
    assert set(pv.CITATION) == set(pv.PAPERS) == set(pv.PARAM_CONVENTION)
    assert pv.PARAM_CONVENTION == {"e2gc": "params_no_bn", "gc2l": "params", "vgg": "params"}


def test_load_values_filters():
    t = pv.load_values("gc2l", ref="Table 4", quantity="error")
    assert len(t) == 13 and set(t["dataset"]) == {"ImageNet"}
    t = pv.load_values(quantity="epf", batch_size=16, device="P4000")
    assert len(t) == 22
    assert len(pv.load_values("e2gc", ref="Table III", k=[1, 2], quantity="params")) == 3  # G=1, G=2, g=2
    assert pv.load_values("vgg", scheme=None, quantity="macs_drop")["ref"].tolist() == ["Sec. 6"]
    with pytest.raises(ValueError):
        pv.load_values("nope")
    with pytest.raises(ValueError):
        pv.load_values(colour="red")


def test_lookup_values_and_errors():
    assert pv.lookup("e2gc", "Table IV", "resnext50", "fggc", 32, "macs") == 4.23
    assert pv.lookup("e2gc", "Table III", "mobilenet_v1", "e2gc", 32, "epf", device="P100", batch_size=4) == 281
    assert pv.lookup("gc2l", "Table 1", "wrn28_10", "standard", 1, "error", dataset="CIFAR-100") == 18.95
    assert pv.lookup("gc2l", "Table 3", "wrn34_2", "flgc", 16, "error") == 62.02
    with pytest.raises(KeyError, match="no published value"):
        pv.lookup("vgg", "Fig. 10", "vgg13_bn", "E", None, "macs")  # the paper prints no MACs
    with pytest.raises(KeyError, match="no published value"):
        pv.lookup("gc2l", "Table 4", "mobilenet_v2", "gc2l", 16, "error")  # Table 4 stops at g=8
    with pytest.raises(KeyError, match="no published value"):
        pv.lookup("e2gc", "Table III", "mobilenet_v1", "e2gc", 64, "params")
    with pytest.raises(KeyError, match=r"narrow by \['device', 'batch_size'\]"):
        pv.lookup("e2gc", "Table III", "mobilenet_v1", "e2gc", 32, "epf")


def test_decimals():
    assert [pv.decimals(s) for s in ("4.20", "689", "1311.7", "0.064", "292.0")] == [2, 0, 1, 3, 1]
    with pytest.raises(ValueError):
        pv.decimals("49h 42m 57s")
