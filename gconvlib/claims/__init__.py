"""Claims as data, evidence that can decide them, and verdicts from one fixed set.

* :mod:`.registry`   ``load_claims(paper=None, chapter=None) -> list[Claim]`` from
                     ``data/paper/claims.yaml``, validated on load; ``claim.printed()`` = the
                     values.csv rows the claim uses.
* :mod:`.evidence`   :class:`Evidence`: every result as one long table (model, variant, quantity,
                     value, std, n, kind, device, batch_size, dataset, epoch, source, spec, sanity,
                     part, data, replicates); :meth:`Evidence.from_values` makes the paper's numbers
                     quoted evidence.
* :mod:`.verdicts`   :class:`Verdict` and the fixed set :data:`VERDICT_KINDS`; :func:`outcome`.
* :mod:`.evaluators` the 14 evaluators of the YAML header, by kind (registered with their args by
                     :func:`.schema.evaluator`); :mod:`.rules` and :mod:`.cells` the rules they share.
* :mod:`.scope`      which evidence may decide a claim (device class, real or stand-in data).
* :mod:`.flip`       the flip point of a decided verdict that rests on a threshold.
* :mod:`.headline`   the printed cells behind a headline reduction (device, batch size).
* :mod:`.judge`      ``judge(claims, evidence, *, paper_evidence=None) -> DataFrame``.

Example::

    from gconvlib.claims import Evidence, judge, load_claims
    from gconvlib.paper import load_values
    table = judge(load_claims(), Evidence.empty(),
                  paper_evidence=Evidence.from_values(load_values()))
"""
from .evidence import COLUMNS as EVIDENCE_COLUMNS, Cell, Evidence, layer_model, pooled_std
from .judge import JUDGE_COLUMNS, claims_html, counts, judge, verdict_sentence
from .registry import CHAPTERS, EVALUATORS, EVIDENCE_KINDS, Claim, claims_path, get_claim, load_claims
from .verdicts import (DOES_NOT_HOLD, HOLDS, HOLDS_ONLY, INCONCLUSIVE, NEGATIVE, NOT_TESTABLE, NOT_YET, PENDING,
                       POSITIVE, VERDICT_KINDS, Check, Verdict, combine, outcome)

__all__ = [
    "Claim", "load_claims", "get_claim", "claims_path", "EVALUATORS", "EVIDENCE_KINDS", "CHAPTERS",
    "Evidence", "Cell", "EVIDENCE_COLUMNS", "layer_model", "pooled_std",
    "Verdict", "VERDICT_KINDS", "HOLDS", "HOLDS_ONLY", "DOES_NOT_HOLD", "INCONCLUSIVE", "NOT_YET", "NOT_TESTABLE",
    "POSITIVE", "NEGATIVE", "PENDING", "outcome", "Check", "combine",
    "judge", "JUDGE_COLUMNS", "counts", "verdict_sentence", "claims_html",
]
