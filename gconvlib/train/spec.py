"""What a training run is: :class:`TrainSpec`, and the store key of its result.

The key of a run is the results store's key (:meth:`gconvlib.store.ResultsStore.key`) of
:meth:`TrainSpec.store_spec` (the spec plus the effective recipe) and of the code that defines
the computation (:meth:`TrainSpec.code_modules`): the modules of this package that can change a
run's numbers, :mod:`gconvlib.recipes`, the datasets modules the data comes from and the modules
that define the model (:meth:`gconvlib.models.spec.ModelSpec.code_modules`). Editing any of them
makes a new key (the run is redone); editing an unrelated module (the GC-2L layer for a GC run,
the command line, the benchmark, the progress bar) does not.
"""
from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass

from .. import recipes as R
from ..kinds import TRAIN
from ..models.spec import ModelSpec

#: the store kind of a training record; its required fields are in gconvlib.kinds (RESULT_FIELDS)
KIND = TRAIN
DATA_MODES = ("auto", "real", "standin")

PACKAGE = "gconvlib"
#: where a run's computation starts; the modules whose source can change what it computes are
#: the ones these import, transitively (:func:`gconvlib.fingerprint.dependency_closure`), so a
#: module the loop starts to use is in the key without anyone listing it. A data-parallel run
#: (distributed, imported by run) computes the same run as one process and has its key.
TRAIN_ROOTS = ("train.run",)
#: parts of the package the training closure leaves out (relative to the package), and why; one
#: left here by mistake costs a recomputation, not a stale result served as current
NOT_IN_TRAIN_KEY = {
    "models": "the model's modules come from ModelSpec.code_modules: those it instantiates and what they import",
    "layers": "as models (layers.init included): a GC run does not depend on the GC-2L layer",
    "datasets": "data_code_modules: the modules of the data source the run used",
    "store": "keeps results and computes none",
    "fingerprint": "computes keys, not results",
    "train.checkpoint": "resuming is bit-identical to running through (tests/test_train_state.py)",
    "train.progress": "draws the progress bar",
}


def train_code_modules(package: str = PACKAGE) -> tuple[str, ...]:
    """The modules of ``package`` whose source defines every training run (the model's and the
    data's modules are added per run: :meth:`TrainSpec.code_modules`)."""
    from ..fingerprint import dependency_closure

    return tuple(dependency_closure([f"{package}.{root}" for root in TRAIN_ROOTS], package,
                                    exclude=[f"{package}.{part}" for part in NOT_IN_TRAIN_KEY]))


DATASET_MODULES = ("gconvlib.datasets.bundle", "gconvlib.datasets.tasks")


def data_code_modules(task: str, source: str) -> tuple[str, ...]:
    """The datasets modules that make the data of ``task`` from ``source`` ("real"/"standin";
    "auto", still unresolved, counts both)."""
    from ..datasets import TASKS

    modules = set(DATASET_MODULES)
    if source in ("standin", "auto"):
        modules.add("gconvlib.datasets.standin")
    if source in ("real", "auto"):
        # the loader, and the image decoding/resizing it uses (files.py defines the pixels)
        modules |= {TASKS[task].loader.__module__, "gconvlib.datasets.files"}
    return tuple(sorted(modules))


def _variant(model) -> ModelSpec:
    """``model`` (text or ModelSpec) as a variant without classes and input size."""
    if isinstance(model, ModelSpec):
        spec = model
    elif isinstance(model, str):
        spec = ModelSpec.parse(model)
        if "/classes=" in model or "/size=" in model:
            raise ValueError(f"model {model!r}: the number of classes and the input size come from the "
                             f"data; give num_classes= / image_size= instead")
    else:
        raise TypeError(f"model must be a ModelSpec or its text form (e.g. 'wrn28_1/gc2l:8'), got {model!r}")
    return ModelSpec(spec.model, spec.scheme, width=spec.width, width_mult=spec.width_mult)


def _check_count(name: str, value, minimum: int = 1) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
        kind = "a positive integer" if minimum == 1 else "a non-negative integer"
        raise ValueError(f"{name} must be {kind}, got {value!r}")


@dataclass(frozen=True)
class TrainSpec:
    """Everything that determines a training result (and nothing that does not, e.g. the profile).

    model: the variant, as the text form of a :class:`~gconvlib.models.spec.ModelSpec` without
        classes or input size (those come from the data): ``"wrn28_1/gc2l:8"``,
        ``"wrn28_1/gc2l:8:unfused"``, ``"mobilenet_v1/e2gc:4"``, ``"vgg13_bn/E/width_mult=0.25"``.
        A ModelSpec is accepted and normalised to that text.
    task/data_mode/image_size/limit/num_classes: the data (``limit`` images per split at most;
        ``num_classes`` = the K most frequent classes where the data set supports it).
    recipe + epochs/batch_size/lr/weight_decay/augment: the paper's recipe and overrides; a
        changed ``epochs`` rescales the milestones (:func:`gconvlib.recipes.scaled`).
    seed: initialisation, data order and augmentation. data_seed: the data itself (which images a
        ``limit`` keeps, the val split, the stand-in's classes) - kept apart so that averaging over
        seeds measures training noise on one fixed data set, and runs that differ only in ``seed``
        share their data.
    data_mode "auto" is stored under the source it resolved to ("real" or "standin"), so a stand-in
    result is never mistaken for a real-data one (see :func:`gconvlib.train.train`).
    ``None`` means the paper's default, filled in at construction so equal runs have equal keys.
    Bad values (unknown model, scheme, task or recipe; a grouping that does not divide a layer)
    raise ValueError here, before any data is loaded.
    """

    model: str
    task: str | None = None
    data_mode: str = "auto"
    image_size: int | None = None
    limit: int | None = None
    num_classes: int | None = None
    recipe: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    augment: str | None = None
    seed: int = 0
    data_seed: int = 0

    def __post_init__(self):
        variant = _variant(self.model)
        object.__setattr__(self, "model", variant.text)
        if self.task is None:
            object.__setattr__(self, "task", R.default_task(variant.model))
        from ..datasets import list_tasks

        if self.task not in list_tasks():
            raise ValueError(f"unknown task {self.task!r}; valid tasks: {', '.join(list_tasks())}")
        if self.recipe is None:
            object.__setattr__(self, "recipe", R.default_recipe(variant.model, self.task))
        if self.data_mode not in DATA_MODES:
            raise ValueError(f"unknown data mode {self.data_mode!r}; choose one of {', '.join(DATA_MODES)}")
        for name in ("image_size", "limit", "num_classes", "epochs", "batch_size"):
            _check_count(name, getattr(self, name))
        for name in ("seed", "data_seed"):
            _check_count(name, getattr(self, name), minimum=0)
        for name in ("lr", "weight_decay"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not (value > 0 if name == "lr" else value >= 0)):
                raise ValueError(f"{name} must be {'positive' if name == 'lr' else 'non-negative'}, got {value!r}")
        self.resolved_recipe()       # unknown recipe, bad augmentation -> ValueError now
        # a grouping that does not divide a layer -> GroupingError (a ValueError) naming it, now
        self.model_spec(self.num_classes, self.image_size).check()

    @classmethod
    def from_paper(cls, model: str, scheme: str, k: int | None = None, *, width: int | None = None,
                   width_mult: float | None = None, **fields) -> TrainSpec:
        """A run of a variant as the papers name it: ``("wrn28", "gc2l", 4, width=1)``,
        ``("mobilenet_v1", "fggc", 8)``, ``("vgg13_bn", "E", width_mult=0.25)``."""
        variant = ModelSpec.from_paper(model, scheme, k, width=width, width_mult=width_mult)
        return cls(model=variant, **fields)

    # -- the variant ----------------------------------------------------------------------
    @property
    def variant(self) -> ModelSpec:
        """The model variant (the architecture's default classes and input size)."""
        return ModelSpec.parse(self.model)

    def model_spec(self, num_classes: int | None, input_size: int | None) -> ModelSpec:
        """The model trained on data with ``num_classes`` classes of ``input_size`` pixels."""
        changes = {k: v for k, v in (("num_classes", num_classes), ("input_size", input_size)) if v is not None}
        return self.variant.replace(**changes)

    @property
    def label(self) -> str:
        """The scheme as the model's paper writes it (``GC-2L g=8``, ``FgGC g=8``, ``E``)."""
        return self.variant.label

    # -- the recipe, the code and the key -----------------------------------------------------
    def resolved_recipe(self) -> R.Recipe:
        return R.scaled(R.get_recipe(self.recipe), self.epochs, batch_size=self.batch_size, lr=self.lr,
                        weight_decay=self.weight_decay, augment=self.augment)

    def store_spec(self) -> dict:
        """What the store keys on: the spec plus the effective recipe (edits to a recipe's values
        change the key even when its module's fingerprint would not)."""
        recipe = asdict(self.resolved_recipe())
        recipe.pop("notes"), recipe.pop("reference")  # wording, not values
        return {**asdict(self), "effective_recipe": recipe}

    def code_modules(self) -> tuple[str, ...]:
        """The modules whose source defines this run's result (see the module docstring)."""
        modules = {*train_code_modules(), *data_code_modules(self.task, self.data_mode),
                   *self.variant.code_modules()}
        return tuple(sorted(modules))

    @property
    def key(self) -> str:
        """The store key of this run's record (also its checkpoint folder's name)."""
        from ..store import ResultsStore

        return ResultsStore().key(KIND, self.store_spec(), code=self.code_modules())

    def with_source(self, source: str) -> TrainSpec:
        """This spec with ``data_mode`` resolved to the data actually used ("real"/"standin")."""
        return dataclasses.replace(self, data_mode=source)

    def replace(self, **changes) -> TrainSpec:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_record(cls, record: dict) -> TrainSpec:
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in record["spec"].items() if k in fields})
