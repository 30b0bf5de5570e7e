"""Each paper's training recipe as data, and how a recipe is shrunk for a laptop-sized run.

A :class:`Recipe` says what the paper says (with the sentence it comes from in the comment) and,
in ``notes``, every value we had to choose because the paper does not give it or because the
text extraction lost the digits. :func:`scaled` shrinks the number of epochs and moves the
learning-rate milestones proportionally, keeping the paper's values next to the scaled ones so
a result can always say how far it is from the paper's setting.

Which recipe a run uses by default follows the papers: MobileNet-V1 / ResNeXt-50 -> ``e2gc``;
WRN-28-k (and anything on CIFAR) -> ``gc2l_cifar``; WRN-34-2 / MobileNetV2 on ImageNet ->
``gc2l_imagenet``; VGG-BN -> ``vgg_kuzushiji``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

AUGMENTATIONS = ("none", "pad_crop_flip", "resized_crop_flip")


@dataclass(frozen=True)
class PaperData:
    """A paper's data set as the paper used it (for the scaling a result reports)."""

    train_images: int
    resolution: int
    num_classes: int
    source: str


# Training-set sizes and input resolutions the papers state (or that their data sets have).
PAPER_DATA: dict[str, PaperData] = {
    # ILSVRC-2012 has 1,281,167 training images (E2GC: "1.2M", GC-2L: "1,280,000"); 224 px crops.
    "imagenet": PaperData(1_281_167, 224, 1000, "ILSVRC-2012 train; E2GC Sec. IV, GC-2L Sec. 4"),
    # E2GC Sec. IV: "75,750 training and 25,250 validation samples ... single center crop 224x224".
    "food101": PaperData(75_750, 224, 101, "E2GC Sec. IV"),
    # GC-2L Sec. 4: "50,000 training and 10,000 test samples".
    "cifar10": PaperData(50_000, 32, 10, "GC-2L Sec. 4"),
    "cifar100": PaperData(50_000, 32, 100, "GC-2L Sec. 4"),
    # VGG Sec. 3: "41770 pieces of data in the training set", 1120 classes, "centered [224x224]".
    "kuzushiji": PaperData(41_770, 224, 1120, "VGG-Kuzushiji Sec. 3"),
}

# The widening factor a paper trains WRN-28 with (GC-2L Tables 1 and 3; Table 2 goes to 40-80).
PAPER_WIDTH = {"wrn28": 10}


@dataclass(frozen=True)
class Recipe:
    """Optimizer, schedule and augmentation of one paper's training set-up.

    ``milestones``: epochs after which the learning rate is multiplied by ``gamma`` (PyTorch's
    MultiStepLR). ``paper_epochs`` / ``paper_milestones`` keep the published schedule when the
    recipe is :func:`scaled`; ``epoch_scale`` = epochs / paper_epochs.
    """

    name: str
    paper: str                      # e2gc | gc2l | vgg
    tasks: tuple[str, ...]          # data sets the paper trains on with it (first = primary)
    epochs: int
    batch_size: int
    lr: float
    momentum: float
    nesterov: bool
    weight_decay: float
    milestones: tuple[int, ...]
    gamma: float = 0.1
    augment: str = "none"           # one of AUGMENTATIONS
    reference: str = ""
    notes: tuple[str, ...] = ()     # values chosen by us, and why
    paper_epochs: int = 0           # filled in by __post_init__ when 0
    paper_milestones: tuple[int, ...] = ()
    paper_batch_size: int = 0
    epoch_scale: float = 1.0

    def __post_init__(self):
        if self.augment not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation {self.augment!r}; choose one of {', '.join(AUGMENTATIONS)}")
        _check_count("epochs", self.epochs)
        _check_count("batch_size", self.batch_size)
        if not self.lr > 0:
            raise ValueError(f"learning rate must be positive, got {self.lr}")
        if self.weight_decay < 0 or not 0 <= self.momentum < 1:
            raise ValueError(f"need weight_decay >= 0 and 0 <= momentum < 1, got "
                             f"{self.weight_decay} and {self.momentum}")
        # A fresh recipe is its own paper reference; scaled() carries the original values on.
        if self.paper_epochs == 0:
            object.__setattr__(self, "paper_epochs", self.epochs)
            object.__setattr__(self, "paper_milestones", tuple(self.milestones))
        if self.paper_batch_size == 0:
            object.__setattr__(self, "paper_batch_size", self.batch_size)

    @property
    def primary_task(self) -> str:
        return self.tasks[0]

    def lr_at(self, epoch: int) -> float:
        """Learning rate used during (0-based) ``epoch``."""
        return self.lr * self.gamma ** sum(1 for m in self.milestones if epoch >= m)


def _check_count(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


RECIPES: dict[str, Recipe] = {}


def _register(recipe: Recipe) -> Recipe:
    RECIPES[recipe.name] = recipe
    return recipe


# E2GC Sec. IV "Experimental setup": "we used SGD optimizer with 0.9 Nesterov momentum and 4e-5
# weight decay rate with 0.1 initial learning rate, which is reduced to 1/10th after every 30
# epochs". Neither the batch size nor the number of epochs nor the training augmentation is given.
E2GC = _register(Recipe(
    name="e2gc", paper="e2gc", tasks=("imagenet", "food101"),
    epochs=90, batch_size=256, lr=0.1, momentum=0.9, nesterov=True, weight_decay=4e-5,
    milestones=(30, 60), augment="resized_crop_flip",
    reference="E2GC, Sec. IV 'Experimental setup'",
    notes=("batch size not stated in the paper: 256 chosen (the usual ImageNet SGD setting for lr 0.1)",
           "total epochs not stated: 90 chosen, i.e. the 'divide by 10 every 30 epochs' schedule "
           "run for three steps (milestones 30, 60), the standard ImageNet schedule",
           "training augmentation not stated (only the single 224x224 centre crop for evaluation): "
           "random-resized crop + horizontal flip chosen, the ImageNet standard"),
))

# GC-2L Sec. 4: "four pixels are padded on each side of images and random crops are sampled from
# the padded images and their horizontal flips ... stochastic gradient descent with the batch size
# 128, weight decay [lost], momentum [lost], total epoch 200 ... The initial learning rate was set
# to [lost] and was reduced to its one tenth in the 60th, 120th, and 160th epochs."
GC2L_CIFAR = _register(Recipe(
    name="gc2l_cifar", paper="gc2l", tasks=("cifar10", "cifar100"),
    epochs=200, batch_size=128, lr=0.1, momentum=0.9, nesterov=False, weight_decay=5e-4,
    milestones=(60, 120, 160), augment="pad_crop_flip",
    reference="GC-2L, Sec. 4 (introduction)",
    notes=("weight decay, momentum and initial learning rate lost in the text extraction: "
           "5e-4, 0.9 and 0.1 used, the WideResNet (Zagoruyko & Komodakis) CIFAR standard",
           "Nesterov not mentioned: plain momentum used"),
))

# GC-2L Sec. 4: "Hyperparameter settings are the same as the CIFAR case except the followings: the
# weight decay [lost], total epoch [lost], and the learning rate reduced by a factor of 10 in the
# 30th and 60th epochs"; augmentation: random-resized crop ("scale and aspect ratio augmentation").
GC2L_IMAGENET = _register(replace(
    GC2L_CIFAR, name="gc2l_imagenet", tasks=("imagenet",), epochs=90, weight_decay=1e-4,
    milestones=(30, 60), paper_epochs=0, paper_milestones=(), augment="resized_crop_flip",
    notes=("weight decay and total epochs lost in the text extraction: 1e-4 and 90 used, "
           "the ResNet ImageNet standard that fits the 30/60 milestones",
           "batch size, momentum and learning rate as in the CIFAR case (128, 0.9, 0.1)"),
))

# VGG-Kuzushiji Sec. 3.4: "SGD is taken as the optimization algorithm"; Sec. 5.1: "we set the batch
# size to be 20 and take the epoch of 25". Inputs "reshaped with the centered [224x224]".
VGG_KUZUSHIJI = _register(Recipe(
    name="vgg_kuzushiji", paper="vgg", tasks=("kuzushiji",),
    epochs=25, batch_size=20, lr=0.01, momentum=0.9, nesterov=False, weight_decay=0.0,
    milestones=(), augment="none",
    reference="VGG-Kuzushiji, Sec. 3.4 and 5.1",
    notes=("learning rate and momentum not stated: 0.01 and 0.9 chosen (plain SGD for VGG-BN)",
           "weight decay, schedule and augmentation not stated: none used (constant lr, no augmentation)"),
))

_E2GC_MODELS = ("mobilenet_v1", "resnext50")
_GC2L_IMAGENET_MODELS = ("wrn34_2", "mobilenet_v2")


def default_task(model: str) -> str:
    """The data set a paper trains ``model`` on (its primary one)."""
    if model.startswith("vgg"):
        return "kuzushiji"
    if model in _E2GC_MODELS or model in _GC2L_IMAGENET_MODELS:
        return "imagenet"
    return "cifar10"


def default_recipe(model: str, task: str | None = None) -> str:
    """The recipe name a paper uses for ``model`` (on ``task``)."""
    task = task or default_task(model)
    if model.startswith("vgg"):
        return VGG_KUZUSHIJI.name
    if model in _E2GC_MODELS:
        return E2GC.name
    if task in ("cifar10", "cifar100") or model == "wrn28":
        return GC2L_CIFAR.name
    return GC2L_IMAGENET.name


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}")
    return RECIPES[name]


def scale_milestones(milestones, paper_epochs: int, epochs: int) -> tuple[int, ...]:
    """Move milestones proportionally to a run of ``epochs`` instead of ``paper_epochs``.

    Rounded half up; milestones that land on epoch 0 or on/after the last epoch are dropped
    (they would decay from the start, or never), duplicates merged.
    """
    out = []
    for m in milestones:
        s = int(math.floor(m * epochs / paper_epochs + 0.5))
        if 0 < s < epochs and s not in out:
            out.append(s)
    return tuple(out)


def scaled(recipe: Recipe, epochs: int | None = None, *, batch_size: int | None = None,
           lr: float | None = None, weight_decay: float | None = None,
           augment: str | None = None) -> Recipe:
    """``recipe`` with fewer (or more) epochs and optionally other overrides.

    The milestones are rescaled from the *paper's* schedule (not the current one), so scaling a
    scaled recipe does not accumulate rounding; ``epoch_scale`` records epochs / paper epochs.
    The learning rate is not rescaled with the batch size: give ``lr`` to change it.
    """
    changes: dict = {}
    if epochs is not None:
        _check_count("epochs", epochs)
        changes.update(epochs=epochs, epoch_scale=epochs / recipe.paper_epochs,
                       milestones=scale_milestones(recipe.paper_milestones, recipe.paper_epochs, epochs))
    if batch_size is not None:
        _check_count("batch_size", batch_size)
        changes["batch_size"] = batch_size
    if lr is not None:
        changes["lr"] = lr
    if weight_decay is not None:
        changes["weight_decay"] = weight_decay
    if augment is not None:
        changes["augment"] = augment
    return replace(recipe, **changes)
