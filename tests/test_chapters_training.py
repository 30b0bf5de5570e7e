"""The accuracy chapters' shared machinery (gconvlib/chapters/_training.py) and their plans.

Records are hand-made (fixed numbers, expectations worked out by hand) except in the one
end-to-end test, which trains a smoke-size chapter on the stand-in with an empty store.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from gconvlib.chapters import _training as T
from gconvlib.chapters import e2gc_accuracy, gc2l_ablation, gc2l_comparison, vgg_schemes
from gconvlib.claims import load_claims
from gconvlib.train import TrainSpec, scaling


def record(model: str, seed: int, error: float, train_loss=(2.3, 1.5, 1.0), val_loss=(2.2, 1.6, 1.2),
           task: str = "cifar10", source: str = "standin", **fields) -> dict:
    """A finished run as the store gives it back, with chosen numbers (error in %); the data has
    ``num_classes`` classes (10 when not given)."""
    spec = TrainSpec(model=model, task=task, data_mode=source, seed=seed, **fields)
    num_classes = spec.num_classes or 10
    recipe = spec.resolved_recipe()
    sizes = {"train": 500, "val": 100, "test": 200}
    bundle = SimpleNamespace(sizes=sizes, image_size=spec.image_size or 32, num_classes=num_classes, source=source)
    epochs = len(train_loss)
    acc = 1 - error / 100
    return {"spec": spec.store_spec(), "cache_hit": True, "result": {
        "label": spec.label, "k": spec.variant.k, "variant": spec.model,
        "curves": {"epoch": list(range(1, epochs + 1)), "lr": [0.1] * epochs, "train_loss": list(train_loss),
                   "train_acc": [0.5] * epochs, "val_loss": list(val_loss), "val_acc": [0.6] * epochs},
        "test": {"accuracy": acc, "error": 1 - acc}, "test_accuracy": acc,
        "data": {"source": source, "sizes": sizes, "num_classes": num_classes, "image_size": bundle.image_size,
                 "description": f"{source} data"},
        "recipe": {"epochs": recipe.epochs, "lr": recipe.lr, "augment": recipe.augment},
        "scaling": scaling(spec, recipe, bundle), "timing": {"wall_s": 1.0}, "run": {"device": "cpu"}}}


def runs(variant: str, errors, **kw) -> list[dict]:
    return [record(f"wrn28_1/{variant}", seed, e, **kw) for seed, e in enumerate(errors)]


# -- sanity -----------------------------------------------------------------------------------

def test_sanity_fails_when_sc_is_far_worse_than_its_grouped_variant():
    # SC 60 +- 2, GC g=16 30 +- 1 (n = 3 each): 30 points apart, 2 pooled std = 2 sqrt((8 + 2) / 4) = 3.16
    recs = runs("standard", [58, 60, 62]) + runs("gc:16", [29, 30, 31])
    sanity = T.sanity_check(recs, reference="standard")
    assert not sanity.passed
    assert "30.0 points above gc:16" in sanity.reason and "3.2" in sanity.reason
    assert list(sanity.checks.passed) == [True, True, True, False]


def test_sanity_passes_a_healthy_setting_and_sc_within_the_spread():
    # SC 21 +- 3 vs GC 20 +- 1: SC is 1 point worse, 2 pooled std = 2 sqrt((18 + 2) / 4) = 4.47 > 1
    recs = runs("standard", [18, 21, 24]) + runs("gc:4", [19, 20, 21]) + runs("gc2l:4", [25, 26, 27])
    sanity = T.sanity_check(recs, reference="standard")
    assert sanity.passed and sanity.reason is None
    assert sanity.checks.passed.all()


def test_sanity_fails_for_a_diverging_run():
    healthy = runs("standard", [20, 21, 22]) + runs("gc:4", [22, 23, 24])
    exploding = record("wrn28_1/gc:4", 3, 25, val_loss=(2.2, 1.5, 9.0))    # 9.0 > 1.5 * max(2.2, ln 10)
    sanity = T.sanity_check(healthy + [exploding])
    assert not sanity.passed and "gc:4 seed 3: final validation loss 9" in sanity.reason
    nan = record("wrn28_1/gc:4", 3, 25, train_loss=(2.3, float("nan"), 1.0))
    assert "not finite" in T.sanity_check(healthy + [nan]).reason
    # a validation loss that rose from its best but stays below 1.5 x the first epoch's is overfitting, not divergence
    overfit = record("wrn28_1/gc:4", 3, 25, val_loss=(2.2, 1.0, 3.2))
    assert T.sanity_check(healthy + [overfit]).passed


def test_sanity_fails_when_the_runs_stop_far_from_fitting_their_training_data():
    # ln 10 / 2 = 1.151: a final training loss of 1.2 is a run that has only started to learn
    recs = runs("standard", [29, 30, 31], train_loss=(2.3, 1.6, 1.2)) + runs("gc:4", [30, 31, 32])
    sanity = T.sanity_check(recs)
    assert not sanity.passed and "far from fitting" in sanity.reason and "standard 1.2" in sanity.reason
    assert "gc:4" not in sanity.reason                                    # 1.0 <= 1.151
    assert list(sanity.checks.passed) == [True, False, True, True]


def test_sanity_fails_when_the_training_loss_does_not_fall():
    flat = runs("standard", [90, 90, 90], train_loss=(2.30, 2.31, 2.29)) + \
        runs("gc:4", [89, 90, 91], train_loss=(2.30, 2.20, 2.00))
    sanity = T.sanity_check(flat)
    assert not sanity.passed and sanity.reason.startswith("training loss falls by less than 5 % (standard 2.3 -> 2.29)")
    assert not sanity.checks.passed.iloc[0]
    # 2.30 -> 2.00 is a fall of 13 %: gc:4 passes the check, only SC is named
    assert "gc:4" not in sanity.checks.detail.iloc[0]


def test_sanity_without_a_reference_skips_the_reference_check():
    recs = runs("standard", [58, 60, 62]) + runs("gc:16", [29, 30, 31])
    assert T.sanity_check(recs, reference=None).passed
    assert len(T.sanity_check(recs, reference=None).checks) == 3


# -- evidence -----------------------------------------------------------------------------------

def test_evidence_is_the_mean_sample_std_and_n_over_seeds():
    recs = [record("wrn28_1/gc2l:4", s, e, train_loss=tl, val_loss=(2.2, 1.6)) for s, e, tl in
            ((0, 10.0, (2.0, 1.0)), (1, 20.0, (2.0, 2.0)), (2, 30.0, (2.0, 3.0)))]
    ev = T.evidence(recs, "gc2l", sanity="a reason")
    final = ev[ev.epoch.isna()].set_index("quantity")
    # errors 10, 20, 30: mean 20, sample std 10; top-1 80 +- 10; final training loss 1, 2, 3: 2 +- 1
    assert final.loc["error", ["value", "std", "n"]].tolist() == pytest.approx([20.0, 10.0, 3])
    assert final.loc["top1", "value"] == pytest.approx(80.0) and final.loc["top1", "std"] == pytest.approx(10.0)
    assert final.loc["train_loss", ["value", "std"]].tolist() == pytest.approx([2.0, 1.0])
    curve = ev[(ev.quantity == "train_loss") & ev.epoch.notna()].set_index("epoch")
    assert curve.loc[1.0, ["value", "std"]].tolist() == [2.0, 0.0] and curve.loc[2.0, "value"] == 2.0
    # filed under the paper's model and data set names, scaled-down, with the setting's sanity verdict
    assert set(ev.model) == {"wrn28_10"} and set(ev.dataset) == {"CIFAR-10"} and set(ev.variant) == {"gc2l:4"}
    assert set(ev.kind) == {"scaled-down"} and set(ev.sanity) == {"a reason"}
    assert ev.source.iloc[0].startswith("WRN-28-1 on the CIFAR-10 stand-in, 500 images") and "3 seeds" in ev.source.iloc[0]


def test_summary_names_the_paper_model_and_one_seed_has_no_spread():
    s = T.summarize([record("wrn28_1/gc:2", 0, 12.5)]).iloc[0]
    assert (s.model, s.variant, s.label, s.seeds, s.error_mean) == ("wrn28_10", "gc:2", "GC g=2", 1, 12.5)
    assert math.isnan(s.error_std)
    assert T.value_text(12.5, math.nan, 1) == "12.50 (n = 1)" and T.value_text(20, 10, 3) == "20.00 ± 10.00 (n = 3)"


def test_dataset_facts_of_a_stand_in_cannot_decide():
    ev = T.dataset_evidence([record("wrn28_1/gc:2", 0, 12.5)], "gc2l")
    assert set(ev.quantity) == {"dataset_size"}                    # no class count from a stand-in
    assert ev.set_index("part").value.to_dict() == {"train": 600.0, "test": 200.0, "total": 800.0}
    assert ev.sanity.str.contains("stand-in").all()


# -- the scaling note ------------------------------------------------------------------------------

def test_the_scaling_note_states_a_paper_value_only_where_the_paper_gives_one():
    e2gc = T.scaling_note([record("mobilenet_v1/e2gc:2", 0, 50, task="imagenet", epochs=15, num_classes=10)])
    assert "15 epochs" in e2gc and "paper: no epoch count" in e2gc and "90 is our reading" in e2gc
    assert "paper: 90" not in e2gc and "vs 90" not in e2gc
    assert "batch 256 (paper: not stated)" in e2gc and "initial lr 0.1 (paper: 0.1)" in e2gc
    gc2l = T.scaling_note([record("wrn28_1/gc:2", 0, 50, epochs=15, lr=0.05)])
    assert "15 epochs, lr divided by 10 after epochs 5, 9, 12 (paper: 200)" in gc2l
    assert "batch 128 (paper: 128)" in gc2l and "initial lr 0.05 (paper: lost in the text extraction" in gc2l
    assert "WRN-28-1 (paper: WRN-28-10)" in gc2l and "500 training images (paper: 50,000; 1 %)" in gc2l
    vgg = T.scaling_note([record("vgg13_bn/E/width_mult=0.25", 0, 50, task="kuzushiji", epochs=15,
                                 num_classes=20)])
    assert "(paper: 25)" in vgg and "batch 20 (paper: 20)" in vgg and "initial lr 0.01 (paper: not stated" in vgg
    assert "20 classes (paper: 1,120)" in vgg and "stand-in" in vgg
    # the data set is named once, in parentheses (a sentence that names it twice read awkwardly)
    from gconvlib.datasets.tasks import TASKS
    assert vgg.count(TASKS["kuzushiji"].title) == 1 and f"({TASKS['kuzushiji'].title};" in vgg


# -- the paper's column beside ours ------------------------------------------------------------

def test_paper_columns_quote_the_paper_and_say_what_was_not_run():
    summary = T.summarize(runs("standard", [20, 21, 22]) + runs("gc:16", [30, 31, 32]))
    table = T.paper_columns("gc2l", "Table 1", "wrn28_10", "error", ("CIFAR-10", "CIFAR-100"), summary,
                            {"CIFAR-100": "gconv train --task cifar100 ..."}).set_index("variant")
    assert table.loc["SC", "CIFAR-10: paper (quoted)"] == "4.19"          # GC-2L Table 1, as printed
    assert table.loc["SC", "CIFAR-10: ours"] == "21.00 ± 1.00 (n = 3)"
    assert table.loc["GC g=16", "CIFAR-10: ours"] == "31.00 ± 1.00 (n = 3)"
    assert table.loc["GC g=2", "CIFAR-10: ours"] == T.NOT_RUN and table.loc["SC", "CIFAR-100: ours"] == T.NOT_RUN
    assert table.loc["to run a column", "CIFAR-100: ours"] == "gconv train --task cifar100 ..."
    assert table.loc["to run a column", "CIFAR-10: ours"] == "make reproduce PROFILE=paper"


# -- plans: what run() trains is what plan_specs() lists --------------------------------------------

SMALL = {
    gc2l_ablation: dict(data="standin", groups=[2, 4], epochs=1, limit=8, seeds=[0, 1]),
    gc2l_comparison: dict(data="standin", groups=[2], epochs=1, limit=8, seeds=[0], mobilenet_v2=True,
                          mobilenet_v2_groups=[2], mobilenet_v2_image_size=32),
    vgg_schemes: dict(data="standin", schemes=["baseline", "D"], epochs=1, limit=8, seeds=[3]),
    e2gc_accuracy: dict(data="standin", tasks=["imagenet", "food101"], group_sizes=[1], groups=[4], epochs=1,
                        limit=8, seeds=[0]),
}


@pytest.mark.parametrize("chapter", list(SMALL), ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_plan_specs_is_exactly_what_run_trains(chapter, monkeypatch):
    import gconvlib.train

    trained = []

    def fake_run_many(specs, seeds=None, store=None, progress="auto", **kw):
        trained.extend(specs)
        return [record(s.model, s.seed, 50.0, task=s.task, **{k: getattr(s, k) for k in
                       ("epochs", "limit", "image_size", "num_classes", "batch_size", "lr", "augment")})
                for s in specs]

    monkeypatch.setattr(gconvlib.train, "run_many", fake_run_many)
    r = chapter.run("smoke", **SMALL[chapter])
    assert trained == chapter.plan_specs(**SMALL[chapter]) and len(trained) > 0
    # every claim claims.yaml files under this chapter is judged, and none is decided: one seed per
    # variant on the offline stand-in can hold or refute nothing
    assert sorted(r.claims.id) == sorted(c.id for c in load_claims(chapter=chapter.NAME))
    assert set(r.claims.verdict_kind) <= {"not testable here", "not yet reproduced"}, \
        r.claims.verdict_kind.value_counts().to_dict()


def test_plans_cover_the_papers_columns_in_the_paper_profile():
    import yaml

    from gconvlib.pipeline import notebook_dir

    import inspect

    profile = yaml.safe_load((notebook_dir() / "profiles" / "paper.yaml").read_text())

    def plan(chapter):
        accepted = inspect.signature(chapter.plan_specs).parameters
        params = {**profile.get("defaults", {}), **profile["notebooks"][chapter.NAME]}
        return chapter.plan_specs(**{k: v for k, v in params.items() if k in accepted})

    e2gc = {(s.variant.model, s.task) for s in plan(e2gc_accuracy)}
    assert e2gc == {(m, t) for m in ("mobilenet_v1", "resnext50") for t in ("imagenet", "food101")}
    ablation = {(s.variant.model, s.task) for s in plan(gc2l_ablation)}
    assert ablation == {("wrn28", "cifar10"), ("wrn28", "cifar100"), ("wrn34_2", "imagenet")}
    comparison = plan(gc2l_comparison)
    assert {(s.variant.model, s.task) for s in comparison} == ablation | {("mobilenet_v2", "imagenet")}
    assert {s.variant.kind for s in comparison} == {"standard", "gc", "shuffle", "flgc", "gc2l"}
    vgg = plan(vgg_schemes)
    assert {s.variant.scheme for s in vgg} == {"baseline", "A", "B", "C", "D", "E"}
    for spec in plan(e2gc_accuracy) + plan(gc2l_ablation) + comparison + vgg:
        # the papers' settings: all the data, the papers' resolution and schedule
        assert spec.limit is None and spec.data_mode == "real" and spec.epochs is None
        assert spec.variant.width in (None, 10) and spec.variant.width_mult in (None, 1.0)


# -- one chapter end to end, from an empty store ------------------------------------------------------

def test_a_smoke_size_chapter_runs_end_to_end_and_is_cached(monkeypatch):
    monkeypatch.setenv("GCONV_OFFLINE", "1")
    params = dict(data="standin", schemes=["baseline", "E"], num_classes=4, width_mult=0.125, epochs=2, limit=24,
                  image_size=32, seeds=[0, 1, 2])
    r = vgg_schemes.run("smoke", progress="none", **params)
    records = r.data["records"]
    assert len(records) == 6 and not any(rec["cache_hit"] for rec in records)
    ev = r.evidence.frame
    test_acc = ev[(ev.quantity == "test_acc") & (ev.variant == "E")].iloc[0]
    accs = [100 * rec["result"]["test"]["accuracy"] for rec in records if rec["result"]["label"] == "E"]
    mean = sum(accs) / 3
    assert test_acc["n"] == 3 and test_acc["kind"] == "scaled-down"
    assert test_acc["value"] == pytest.approx(mean)
    assert test_acc["std"] == pytest.approx(math.sqrt(sum((a - mean) ** 2 for a in accs) / 2))
    assert set(r.claims.chapter) == {"vgg_schemes"} and len(r.claims) == len(load_claims(chapter="vgg_schemes"))
    assert {"sanity", "Fig. 9", "losses"} <= set(r.tables)
    assert r.tables["Fig. 9"].set_index("scheme").loc["D", "test change, paper (quoted)"] == "-3.03 %"
    again = vgg_schemes.run("smoke", progress="none", **params)
    assert all(rec["cache_hit"] for rec in again.data["records"])


def test_the_scaling_note_says_where_how_and_when_the_runs_trained():
    from gconvlib.chapters._evidence import trained_text

    def rec(threads, created, commit, dirty=False, processes=1):
        return {"provenance": {"created": created, "commit": commit, "dirty": dirty, "device": {"cpu": "x86_64"}},
                "result": {"run": {"device": "cpu", "threads": threads, "processes": processes}}}

    one = [rec(1, "2026-12-07T04:10:00+00:00", "3b14e566c0aa"), rec(1, "2026-12-08T01:00:00+00:00", "3b14e566c0aa")]
    assert trained_text(one) == "trained here on cpu (x86_64), 1 thread per run, 2026-12-07 to 2026-12-08, commit 3b14e566c0"
    mixed = [rec(1, "2026-12-07T04:10:00+00:00", "aaaaaaaaaaaa"), rec(2, "2026-12-07T05:00:00+00:00", "bbbbbbbbbbbb", True)]
    text = trained_text(mixed)
    assert "1, 2 threads per run (different runs: they round differently)" in text
    assert text.endswith("commits aaaaaaaaaa, bbbbbbbbbb (dirty)")
    assert "4 processes per run" in trained_text([rec(2, "2026-12-07T04:10:00+00:00", "c" * 12, processes=4)])
