"""Inference latency protocol on CPU."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from gconvlib.measure import latency as L


pytestmark = pytest.mark.usefixtures("one_thread")


def test_latency_summary():
    s = L.latency_summary([0.004, 0.002, 0.006, 0.008, 0.010], batch_size=2)  # per image: 1..5 ms
    assert s["ms_per_image_median"] == pytest.approx(3.0)
    assert (s["ms_per_image_q1"], s["ms_per_image_q3"]) == (pytest.approx(2.0), pytest.approx(4.0))
    assert s["ms_per_image_iqr"] == pytest.approx(2.0)
    assert (s["ms_per_image_min"], s["ms_per_image_max"]) == (pytest.approx(1.0), pytest.approx(5.0))
    assert s["ms_per_batch_median"] == pytest.approx(6.0) and s["images_per_s"] == pytest.approx(1000 / 3)


def test_time_inference_eval_no_grad_and_mode_restored():
    seen = []
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5))
    model[0].register_forward_hook(lambda m, i, o: seen.append((m.training, torch.is_grad_enabled())))
    model.train()
    times = L.time_inference(model, torch.randn(2, 3, 8, 8), repeats=4, warmup=2)
    assert len(times) == 4 and all(t > 0 for t in times)
    assert seen == [(False, False)] * 6          # every call (warm-up included) in eval, no grad
    assert model.training and model[1].training  # restored
    model.eval()
    L.time_inference(model, torch.randn(1, 3, 8, 8), repeats=1, warmup=0)
    assert not model.training                    # restored to what it was: eval


def test_parse_variant():
    assert L.parse_variant("vgg13_bn", "E") == ("E", None)
    assert L.parse_variant("mobilenet_v1", "e2gc:4") == ("e2gc", 4)
    assert L.parse_variant("wrn28", "standard") == ("standard", None)
    with pytest.raises(ValueError):
        L.parse_variant("mobilenet_v1", "e2gc:x")


def test_measure_latency_tiny_vgg_on_cpu():
    rows = L.measure_latency("vgg13_bn", ["E"], batch_sizes=[1, 2], device="cpu", repeats=3, warmup=1,
                             num_classes=10, input_size=32)
    assert [(r["variant"], r["batch_size"]) for r in rows] == [("E", 1), ("E", 2)]
    for r in rows:
        assert 0 < r["ms_per_image_min"] <= r["ms_per_image_median"] <= r["ms_per_image_max"]
        assert r["ms_per_image_iqr"] >= 0 and r["repeats"] == 3 and r["device_type"] == "cpu"
        assert r["input_size"] == 32 and r["num_classes"] == 10


@pytest.mark.parametrize("kwargs, match", [
    (dict(batch_sizes=[0]), "batch sizes must be integers >= 1"),
    (dict(device="tpu"), "unknown device 'tpu'"),
    (dict(repeats=0), "repeats >= 1"),
    (dict(variants=["F"]), "VGG scheme must be one of"),
])
def test_measure_latency_invalid_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        L.measure_latency("vgg13_bn", **{"variants": ["E"], **kwargs})
