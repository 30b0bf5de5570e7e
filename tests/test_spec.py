"""The one model description: its text form, labels, defaults, and the code its results depend on."""
import pytest

from gconvlib import fingerprint
from gconvlib.complexity import count_spec
from gconvlib.layers import ConvScheme
from gconvlib.models import ModelSpec, list_models
from gconvlib.store import ResultsStore

TEXTS = ["wrn28_10/gc2l:8:unfused", "wrn28_2/gc2l:4", "mobilenet_v1/e2gc:4", "resnext50/gc:32",
         "wrn34_2/shuffle:4", "mobilenet_v2/flgc:2", "vgg13_bn/E", "vgg16_bn/baseline/width_mult=0.25",
         "vgg13_bn/A/classes=49/size=28", "mobilenet_v1/e2gc:1/size=112"]


@pytest.mark.parametrize("text", TEXTS)
def test_text_form_round_trips(text):
    spec = ModelSpec.parse(text)
    assert spec.text == text
    assert ModelSpec.parse(spec.text) == spec


@pytest.mark.parametrize("text, canonical, label", [
    ("resnext50/fggc:8", "resnext50/gc:8", "FgGC g=8"),      # the E2GC paper's name for GC
    ("wrn28_10/gc:8", "wrn28_10/gc:8", "GC g=8"),            # the GC-2L paper's
    ("wrn28_10/gc2l:8:fused", "wrn28_10/gc2l:8", "GC-2L g=8"),
    ("wrn28_10/gc2l:8:unfused", "wrn28_10/gc2l:8:unfused", "GC-2L g=8 (unfused)"),
    ("mobilenet_v1/e2gc:16", "mobilenet_v1/e2gc:16", "E2GC G=16"),
    ("vgg13_bn/e", "vgg13_bn/E", "E"),
    ("wrn34_2/standard", "wrn34_2/standard", "SC"),
])
def test_one_way_to_say_a_scheme_and_one_label(text, canonical, label):
    spec = ModelSpec.parse(text)
    assert (spec.text, spec.label) == (canonical, label)


def test_defaults_are_the_architectures_own():
    assert ModelSpec("mobilenet_v1").text == "mobilenet_v1/e2gc:1"   # depthwise: the original network
    assert ModelSpec("resnext50").text == "resnext50/gc:32"          # 32x4d
    spec = ModelSpec("wrn28_10/gc:2")
    assert (spec.num_classes, spec.input_size, spec.width) == (10, 32, 10)
    assert ModelSpec("wrn28_10/gc:2", input_size=64).input_size == 64


@pytest.mark.parametrize("text, message", [
    ("wrn29_10/gc:2", "unknown model 'wrn29_10'"),
    ("wrn28_10/gc:3", "3 groups do not divide"),
    ("mobilenet_v1/e2gc", "written 'e2gc:<G>'"),
    ("mobilenet_v1/gc2l:4:maybe", "written 'gc2l:<g>'"),
    ("vgg13_bn/gc:4", "VGG schemes fix their own group counts"),
    ("mobilenet_v1/e2gc:4/depth=3", "unknown part 'depth=3'"),
    ("mobilenet_v1", "a model variant is written MODEL/SCHEME"),
])
def test_bad_variants_are_refused_with_a_reason(text, message):
    with pytest.raises(ValueError, match=message):
        ModelSpec.parse(text).check()


def test_width_only_where_the_architecture_has_one():
    with pytest.raises(ValueError, match="width applies to wrn28 only"):
        ModelSpec("resnext50", width=4)
    assert ConvScheme.parse("fggc:4") == ConvScheme("gc", groups=4)


def test_every_registered_model_builds_from_its_spec_on_the_meta_device():
    for name in list_models():
        spec = ModelSpec(f"{name}_1" if name == "wrn28" else name)
        assert spec.build("meta").input_size == spec.input_size


def test_a_change_to_the_gc2l_layer_invalidates_gc2l_counts_only(monkeypatch, tmp_path):
    """Complexity records are keyed by the code that defines the model: editing
    gconvlib/layers/two_level.py must change the key of a GC-2L count and no other."""
    store = ResultsStore(tmp_path)
    gc, gc2l = ModelSpec("wrn28_2/gc:4"), ModelSpec("wrn28_2/gc2l:4")
    keys = {s: store.key("complexity", s, code=("gconvlib.complexity", *s.code_modules())) for s in (gc, gc2l)}
    real = fingerprint.module_source_hash
    monkeypatch.setattr(fingerprint, "module_source_hash",
                        lambda name: "edited" if name == "gconvlib.layers.two_level" else real(name))
    after = {s: store.key("complexity", s, code=("gconvlib.complexity", *s.code_modules())) for s in (gc, gc2l)}
    assert after[gc] == keys[gc] and after[gc2l] != keys[gc2l]
    count_spec(gc2l, store)
    assert len(store.records("complexity")) == 1   # stored under the edited key
