"""What a group-parallel training step costs: exact work and communication from the layer shapes,
and a cost model fitted to measured steps.

* :func:`step_work`: per rank and step, the MACs of forward + backward (3x the forward MACs,
  the usual count: forward, gradient of the input, gradient of the weights) and what the
  collectives move (:func:`comm_volume`), both exact from the model's layer shapes.
* :func:`comm_volume`: the all-gathers of GC-2L's representative channels (N x g x H x W per
  layer, forward) and their reduce-scatters (same size, backward), the all-gather of the pooled
  features before the replicated classifier and the all-reduce of its gradients; as elements
  per rank, bytes, number of collectives and elements sent between processes (all-gather and
  reduce-scatter: (P-1)/P of the tensor per rank; all-reduce: 2 (P-1)/P, ring algorithms).
  :func:`shuffle_comm_volume` counts the same for channel shuffle laid out one group per
  process: an all-to-all of (g-1)/g of every grouped layer's output, forward and backward.
* :class:`CostModel`: step time = a + b x MACs per rank (computation, least squares on the
  measured computation times) + c x collectives + d x bytes per rank (communication, least
  squares on the measured communication times); predictions for any P and width.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..models.spec import ModelSpec

BACKWARD_FACTOR = 3   # forward + backward = 3 x forward MACs (input and weight gradients)


def _layer_outputs(spec: ModelSpec, batch: int, kinds: tuple) -> list[tuple[nn.Module, tuple]]:
    """(layer, output shape) of every module of the given types, from a meta-device forward."""
    model = spec.build("meta")
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append((m, tuple(o.shape))))
             for m in model.modules() if isinstance(m, kinds)]
    with torch.no_grad():
        model(torch.empty(batch, 3, spec.input_size, spec.input_size, device="meta"))
    for h in hooks:
        h.remove()
    return seen


def comm_volume(spec: ModelSpec | str, batch: int, procs: int, bytes_per_element: int = 4) -> dict:
    """What one rank's collectives move in one training step of the group-parallel model."""
    from ..layers import TwoLevelConv2d

    spec = ModelSpec.parse(spec)
    if procs == 1:
        return {"all_gather": 0, "reduce_scatter": 0, "all_reduce": 0, "elements": 0, "bytes": 0,
                "collectives": 0, "sent_per_rank": 0.0, "sent_total": 0.0}
    gathered = [n * c * h * w for m, (n, c, h, w) in _layer_outputs(spec, batch, (TwoLevelConv2d,))
                for c in [m.groups]]
    single = spec.build("meta")
    features, classes = single.fc.in_features, single.fc.out_features
    gathered.append(batch * features)                      # pooled features before the classifier
    ag = sum(gathered)
    rs = ag                                                # the adjoint of every all-gather
    ar = features * classes + classes                      # the classifier's gradients
    share = (procs - 1) / procs
    sent = share * (ag + rs) + 2 * share * ar
    return {"all_gather": ag, "reduce_scatter": rs, "all_reduce": ar, "elements": ag + rs + ar,
            "bytes": (ag + rs + ar) * bytes_per_element, "collectives": 2 * len(gathered) + 1,
            "sent_per_rank": sent, "sent_total": sent * procs}


def shuffle_comm_volume(spec: ModelSpec | str, batch: int) -> dict:
    """Channel shuffle with one group per process (g processes): every shuffled layer's output is
    exchanged all-to-all ((g-1)/g of it leaves its process), forward and backward; the head is
    as GC-2L's (all-gather of pooled features, all-reduce of the classifier's gradients)."""
    from ..layers import ShuffleConv2d

    spec = ModelSpec.parse(spec)
    g = spec.k
    share = (g - 1) / g
    layers = [n * c * h * w for _, (n, c, h, w) in _layer_outputs(spec, batch, (ShuffleConv2d,))]
    single = spec.build("meta")
    features, classes = single.fc.in_features, single.fc.out_features
    sent_layers = 2 * share * sum(layers)                  # total over processes, forward + backward
    sent_head = 2 * (g - 1) * batch * features + 2 * (g - 1) * (features * classes + classes)
    return {"sent_total": sent_layers + sent_head, "layers": len(layers)}


def gc2l_sent_total(spec: ModelSpec | str, batch: int) -> float:
    """Elements GC-2L sends between its g processes in one step (one group per process)."""
    spec = ModelSpec.parse(spec)
    return comm_volume(spec, batch, spec.k)["sent_total"]


def forward_macs(spec: ModelSpec | str) -> tuple[int, int]:
    """(MACs of one image's forward pass, of which the classifier)."""
    from ..complexity import count

    spec = ModelSpec.parse(spec)
    total = count(spec.build("meta"), spec.input_size).macs
    single = spec.build("meta")
    return total, single.fc.in_features * single.fc.out_features


def step_work(spec: ModelSpec | str, batch: int, procs: int) -> dict:
    """Per rank and training step: MACs (forward + backward) and communication."""
    spec = ModelSpec.parse(spec)
    total, fc = forward_macs(spec)
    per_rank = ((total - fc) / procs + fc) * batch * BACKWARD_FACTOR
    return {"macs_per_rank": per_rank, **{f"comm_{k}": v for k, v in comm_volume(spec, batch, procs).items()}}


@dataclass
class CostModel:
    """step = compute + communication; compute = a + b MACs/rank; comm = c collectives + d bytes/rank."""

    a: float = 0.0
    b: float = 0.0
    c: float = 0.0
    d: float = 0.0
    points: int = 0
    comm_points: int = 0
    residual: dict = field(default_factory=dict)
    assumptions: tuple = (
        "one process per processor, each as fast as one process here (the measured P = 1 and P = 2 "
        "steps used one CPU thread per process)",
        "computation time linear in the MACs each rank computes (forward + backward = 3 x forward)",
        "communication time = a latency per collective + bytes / bandwidth, as fitted on this "
        "machine's gloo over localhost; no overlap of computation and communication",
        "the paper's schedule: 200 epochs of 391 steps at batch 128 on 32 x 32 CIFAR-10 images",
    )

    @classmethod
    def fit(cls, rows: list[dict]) -> CostModel:
        """``rows``: measured steps with macs_per_rank, comm_collectives, comm_bytes, compute_s, comm_s."""
        x = np.array([[1.0, r["macs_per_rank"]] for r in rows])
        y = np.array([r["compute_s"] for r in rows])
        if len(rows) >= 2 and np.ptp(x[:, 1]) > 0:
            (a, b), *_ = np.linalg.lstsq(x, y, rcond=None)
        else:
            a, b = 0.0, float(y.mean() / x[:, 1].mean()) if len(rows) else 0.0
        if b <= 0:   # noise: fall back to a rate through the origin
            a, b = 0.0, float((x[:, 1] @ y) / (x[:, 1] @ x[:, 1]))
        comm = [r for r in rows if r["comm_collectives"] > 0]
        c = d = 0.0
        if comm:
            xc = np.array([[r["comm_collectives"], r["comm_bytes"]] for r in comm], dtype=float)
            yc = np.array([r["comm_s"] for r in comm])
            c, d = _nonnegative_fit(xc, yc)
        model = cls(float(a), float(b), float(c), float(d), len(rows), len(comm))
        model.residual = {"compute_rel_rms": _rel_rms([model.compute(r) for r in rows], y),
                          "comm_rel_rms": _rel_rms([model.comm(r) for r in comm], [r["comm_s"] for r in comm])}
        return model

    def compute(self, row: dict) -> float:
        return self.a + self.b * row["macs_per_rank"]

    def comm(self, row: dict) -> float:
        return self.c * row["comm_collectives"] + self.d * row["comm_bytes"]

    def step(self, row: dict) -> float:
        return self.compute(row) + self.comm(row)

    def predict(self, spec: ModelSpec | str, batch: int, procs: int) -> dict:
        work = step_work(spec, batch, procs)
        return {**work, "compute_s": self.compute(work), "comm_s": self.comm(work), "step_s": self.step(work)}

    def describe(self) -> str:
        rate = 1 / self.b / 1e9 if self.b else math.inf
        bw = 1 / self.d / 1e9 if self.d else math.inf
        return (f"computation {self.a * 1e3:.2f} ms + MACs / ({rate:.2f} GMAC/s); communication "
                f"{self.c * 1e3:.3f} ms per collective + bytes / ({bw:.2f} GB/s); fitted on {self.points} "
                f"measured steps ({self.comm_points} with communication)")


def _nonnegative_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least squares y = c x0 + d x1 with c, d >= 0 (both, or the better single term)."""
    candidates = []
    if len(y) >= 2 and np.linalg.matrix_rank(x) == 2:
        (c, d), *_ = np.linalg.lstsq(x, y, rcond=None)
        if c >= 0 and d >= 0:
            candidates.append((float(c), float(d)))
    for j in (0, 1):
        col = x[:, j]
        if col @ col > 0:
            coef = max(0.0, float(col @ y / (col @ col)))
            candidates.append((coef, 0.0) if j == 0 else (0.0, coef))
    if not candidates:
        return 0.0, 0.0
    return min(candidates, key=lambda cd: float(np.sum((x @ np.array(cd) - y) ** 2)))


def training_memory(spec: ModelSpec | str, batch: int) -> dict:
    """Bytes of one SGD training step in fp32 (counted on the meta device, no memory used):
    weights + gradients + momentum (3 x params x 4) + the activations autograd saves for backward
    at this batch size (each saved tensor once, parameters excluded)."""
    spec = ModelSpec.parse(spec)
    model = spec.build("meta")
    params = {id(p) for p in model.parameters()}
    saved, kept = {}, []

    def pack(t):
        if id(t) not in params and id(t) not in saved:
            saved[id(t)] = t.numel() * t.element_size()
            kept.append(t)   # keep it alive: ids stay unique
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(torch.empty(batch, 3, spec.input_size, spec.input_size, device="meta"))
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    return {"weights_bytes": weights, "optimizer_bytes": 2 * weights, "activations_bytes": sum(saved.values()),
            "total_bytes": 3 * weights + sum(saved.values())}


def _rel_rms(pred, obs) -> float:
    obs = np.asarray(obs, dtype=float)
    if not len(obs):
        return float("nan")
    return float(np.sqrt(np.mean(((np.asarray(pred) - obs) / np.where(obs == 0, 1, obs)) ** 2)))
