"""Variant and family texts in the claims read through ConvScheme, the one parser of scheme text
(issue 14); answers written by hand from the text forms in ``data/paper/claims.yaml``'s header."""
from __future__ import annotations

import math

import pytest

from gconvlib.claims.cells import is_family, k_of, kind_of, member, row_variant, vlist
from gconvlib.layers.factory import ConvScheme


@pytest.mark.parametrize("text, k", [
    ("gc:8", 8), ("e2gc:4", 4), ("gc2l:8:unfused", 8), ("shuffle:16", 16), ("flgc:2", 2),
    ("fggc:32", 32),                      # the E2GC paper's name for gc
    ("standard", 1),                      # one group: see k_of's docstring
    ("E", None), ("baseline", None),      # VGG presets fix their own group counts
    ("conv3x3*3", None), ("gc:*", None), ("gc:m", None), (None, None), ({"min": "gc:*"}, None),
])
def test_k_of_each_kind_of_text(text, k):
    assert k_of(text) == k


def test_standard_is_one_group_for_the_claims_but_has_no_number_as_a_scheme():
    # the two readings differ on purpose: a trend over log2 k puts a standard conv at k = 1
    assert ConvScheme.parse("standard").k is None
    assert k_of("standard") == 1


def test_kind_of_reads_aliases_and_the_unfused_form():
    assert [kind_of(t) for t in ("gc2l:8:unfused", "fggc:8", "e2gc:1", "standard", "B")] == \
        ["gc2l", "gc", "e2gc", "standard", None]


@pytest.mark.parametrize("family, k, text", [
    ("gc:*", 8, "gc:8"), ("e2gc:*", 4, "e2gc:4"), ("gc2l:*:unfused", 16, "gc2l:16:unfused"),
    ("shuffle:*", 2, "shuffle:2"), ("fggc:*", 8, "gc:8"), ("gc:m", 512, "gc:512"),
])
def test_member_of_a_family(family, k, text):
    assert member(family, k) == text


def test_a_member_of_an_e2gc_family_sets_the_group_size_not_the_group_count():
    s = ConvScheme.parse(member("e2gc:*", 4))
    assert (s.group_size, s.groups) == (4, None)
    assert ConvScheme.parse("gc2l:8:unfused").with_k(2) == ConvScheme("gc2l", groups=2, fused=False)
    with pytest.raises(ValueError, match="standard"):
        ConvScheme().with_k(2)


def test_a_family_without_k_stays_itself_and_reads_as_missing():
    assert member("gc2l:*", None) == "gc2l:*"


def test_which_texts_are_every_k_families():
    assert [is_family(t) for t in ("gc:*", "gc2l:*:unfused", "gc:m", "gc:8", "standard", "E", None)] == \
        [True, True, False, False, False, False, False]


def test_vlist_shortens_runs_of_one_grouped_kind():
    assert vlist(["standard", "gc:1", "gc:2", "gc:4", "gc:8", "e2gc:1", "e2gc:2"]) == \
        "standard, gc:1 .. gc:8 (4), e2gc:1, e2gc:2"
    assert vlist(["A", "B", "C", "D", "E"]) == "A, B, C, D, E"


@pytest.mark.parametrize("scheme, k, text", [
    ("fggc", 8, "gc:8"), ("e2gc", 4, "e2gc:4"), ("standard", math.nan, "standard"),
    ("E", math.nan, "E"), ("baseline", math.nan, "baseline"), ("gc2l", math.nan, None), ("", 8, None),
])
def test_row_variant_of_a_values_row(scheme, k, text):
    assert row_variant(scheme, k) == text
