"""The papers' training recipes as data, and their scaling to short runs."""
from __future__ import annotations

import dataclasses

import pytest

from gconvlib import recipes as R


def test_gc2l_cifar_is_the_paper_schedule():
    r = R.GC2L_CIFAR
    assert (r.epochs, r.batch_size, r.milestones, r.gamma) == (200, 128, (60, 120, 160), 0.1)
    assert (r.lr, r.momentum, r.weight_decay, r.nesterov) == (0.1, 0.9, 5e-4, False)
    assert r.augment == "pad_crop_flip" and r.tasks == ("cifar10", "cifar100")
    # the values lost in the text extraction are declared as our choice
    assert any("lost in the text extraction" in n and "5e-4" in n for n in r.notes)


def test_gc2l_imagenet_e2gc_and_vgg_values():
    g = R.GC2L_IMAGENET
    assert (g.epochs, g.milestones, g.weight_decay, g.batch_size) == (90, (30, 60), 1e-4, 128)
    assert g.augment == "resized_crop_flip"
    e = R.E2GC
    assert (e.lr, e.momentum, e.nesterov, e.weight_decay) == (0.1, 0.9, True, 4e-5)
    assert e.milestones == (30, 60) and e.batch_size == 256  # "every 30 epochs"; batch size is ours
    assert any("batch size not stated" in n for n in e.notes)
    v = R.VGG_KUZUSHIJI
    assert (v.batch_size, v.epochs, v.lr, v.momentum, v.milestones) == (20, 25, 0.01, 0.9, ())
    assert any("not stated" in n for n in v.notes)
    for recipe in R.RECIPES.values():
        assert recipe.reference and recipe.paper_epochs == recipe.epochs and recipe.epoch_scale == 1.0


def test_scaled_moves_milestones_proportionally_and_records_the_factor():
    s = R.scaled(R.GC2L_CIFAR, epochs=20)
    assert s.epochs == 20 and s.milestones == (6, 12, 16)
    assert s.epoch_scale == pytest.approx(0.1)
    assert (s.paper_epochs, s.paper_milestones) == (200, (60, 120, 160))
    assert R.scaled(R.GC2L_CIFAR, epochs=10).milestones == (3, 6, 8)
    # tiny runs: milestones that round onto epoch 0 or the end are dropped, duplicates merged
    assert R.scaled(R.GC2L_CIFAR, epochs=3).milestones == (1, 2)
    assert R.scaled(R.GC2L_CIFAR, epochs=1).milestones == ()
    assert R.scaled(R.GC2L_IMAGENET, epochs=9).milestones == (3, 6)
    # scaling a scaled recipe starts again from the paper: no accumulated rounding
    assert R.scaled(R.scaled(R.GC2L_CIFAR, epochs=3), epochs=20) == s
    assert R.scaled(R.GC2L_CIFAR, epochs=200) == R.GC2L_CIFAR
    assert R.scaled(R.VGG_KUZUSHIJI, epochs=5).milestones == ()


def test_scaled_overrides_and_lr_at():
    s = R.scaled(R.E2GC, epochs=9, batch_size=64, lr=0.05)
    assert (s.batch_size, s.paper_batch_size, s.lr) == (64, 256, 0.05)
    assert [round(s.lr_at(e), 6) for e in range(9)] == [0.05] * 3 + [0.005] * 3 + [0.0005] * 3
    assert R.GC2L_CIFAR.lr_at(59) == 0.1 and R.GC2L_CIFAR.lr_at(60) == pytest.approx(0.01)
    assert R.GC2L_CIFAR.lr_at(199) == pytest.approx(1e-4)


@pytest.mark.parametrize("kwargs, match", [
    (dict(epochs=0), "epochs must be a positive integer"),
    (dict(batch_size=0), "batch_size must be a positive integer"),
    (dict(augment="blur"), "unknown augmentation"),
])
def test_scaled_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        R.scaled(R.GC2L_CIFAR, **kwargs)


def test_recipes_are_frozen_and_lookup_is_checked():
    with pytest.raises(dataclasses.FrozenInstanceError):
        R.GC2L_CIFAR.epochs = 1
    with pytest.raises(ValueError, match="unknown recipe 'sgd'"):
        R.get_recipe("sgd")


def test_default_recipe_and_task_follow_the_papers():
    assert R.default_recipe("wrn28") == "gc2l_cifar"
    assert R.default_recipe("wrn34_2") == "gc2l_imagenet"
    assert R.default_recipe("mobilenet_v2") == "gc2l_imagenet"
    assert R.default_recipe("mobilenet_v2", "cifar100") == "gc2l_cifar"
    assert R.default_recipe("mobilenet_v1") == R.default_recipe("resnext50", "food101") == "e2gc"
    assert R.default_recipe("vgg13_bn") == "vgg_kuzushiji"
    assert [R.default_task(m) for m in ("vgg13_bn", "wrn28", "resnext50")] == ["kuzushiji", "cifar10", "imagenet"]
    assert R.PAPER_DATA["kuzushiji"].train_images == 41_770 and R.PAPER_DATA["kuzushiji"].num_classes == 1120
