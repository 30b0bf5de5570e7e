"""Inference latency protocol on CPU: cells from model specs, interleaved timing, failures as values."""
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
    assert s["ms_per_image_iqr"] == pytest.approx(2.0) and s["ms_per_image_std"] == pytest.approx(2.0 / 1.349)
    assert (s["ms_per_image_min"], s["ms_per_image_max"]) == (pytest.approx(1.0), pytest.approx(5.0))
    assert s["ms_per_batch_median"] == pytest.approx(6.0) and s["images_per_s"] == pytest.approx(1000 / 3)
    assert s["repeats"] == 5


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


def test_interleaved_rounds_rotate_the_order():
    order = []
    models = []
    for name in "abc":
        m = nn.Identity()
        m.register_forward_hook(lambda mod, i, o, _n=name: order.append(_n))
        models.append((m, torch.zeros(1)))
    times = L.time_interleaved(models, repeats=3, warmup=1)
    assert [len(t) for t in times] == [3, 3, 3]
    assert order == list("abc") + list("abc") + list("bca") + list("cab")  # warm-up, then rotating rounds


def test_measure_latency_tiny_vgg_and_a_failing_cell():
    cells = [L.LatencyCell("vgg13_bn/E/classes=10/size=32/width_mult=0.125", 1),
             L.LatencyCell("vgg13_bn/E/classes=10/size=32/width_mult=0.125", 2),
             L.LatencyCell("vgg13_bn/A/classes=10/size=2/width_mult=0.125", 1)]   # 2 px cannot be pooled 5 times
    seen = []
    results = L.measure_latency(cells, L.LatencyProtocol(repeats=3, warmup=1), "cpu",
                                on_result=lambda c, r: seen.append(c.batch_size))
    assert [r["status"] for r in results[:2]] == ["ok", "ok"] and results[2]["status"].startswith("failed: ")
    assert seen == [1, 2, 1]
    for r in results[:2]:
        assert r["repeats"] == 3 and r["device_type"] == "cpu" and r["warmup"] == 1
        assert r["memory_format"] == "contiguous" and r["backend_flags"]["cudnn_allow_tf32"] is False


def test_latency_runs_the_memory_format_it_records(monkeypatch):
    seen = []
    real = L.time_interleaved

    def spy(calls, *args, **kwargs):
        seen.extend((next(m.parameters()).is_contiguous(memory_format=torch.channels_last),
                     x.is_contiguous(memory_format=torch.channels_last)) for m, x in calls)
        return real(calls, *args, **kwargs)

    monkeypatch.setattr(L, "time_interleaved", spy)
    cells = [L.LatencyCell("vgg13_bn/E/classes=10/size=32/width_mult=0.125", 2)]
    (r,) = L.measure_latency(cells, L.LatencyProtocol(repeats=1, warmup=0, memory_format="channels_last"), "cpu")
    assert seen == [(True, True)] and r["memory_format"] == "channels_last"
    seen.clear()
    (r,) = L.measure_latency(cells, L.LatencyProtocol(repeats=1, warmup=0), "cpu")
    assert seen == [(False, False)] and r["memory_format"] == "contiguous"


@pytest.mark.parametrize("make, match", [
    (lambda: L.LatencyCell("vgg13_bn/E", 0), "batch_size must be an integer >= 1"),
    (lambda: L.LatencyCell("vgg13_bn/F", 1), "F"),
    (lambda: L.LatencyProtocol(repeats=0), "repeats >= 1"),
    (lambda: L.measure_latency([L.LatencyCell("vgg13_bn/E", 1)], device="tpu"), "unknown device 'tpu'"),
])
def test_invalid_input(make, match):
    with pytest.raises(ValueError, match=match):
        make()
