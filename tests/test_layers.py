"""The one layer vocabulary: LayerSpec parses every way a layer choice is written, and the
mixing, direction and timeline helpers all go through it."""
from __future__ import annotations

import pytest

from explorer.directions.direction import normalise_layers as direction_layers
from explorer.latents import resolve_layers
from explorer.layers import LayerSpec
from explorer.timeline import layer_rows
from explorer.timeline import normalise_layers as timeline_layers

GROUPS = {"coarse": range(0, 4), "medium": range(4, 8), "fine": range(8, 12)}


@pytest.mark.parametrize("written, canonical", [
    (None, "all"), ("all", "all"), ("coarse", "coarse"), ("fine+coarse", "coarse+fine"),
    ("medium, fine", "medium+fine"), (["fine", "medium"], "medium+fine"), (["all"], "all"),
    ((2, 5), (2, 5)), ([2, 5], (2, 5)), (range(2, 5), (2, 5)), (LayerSpec.parse("fine"), "fine"),
])
def test_every_way_of_writing_layers_reads_the_same(written, canonical):
    spec = LayerSpec.parse(written)
    assert spec.canonical() == canonical and timeline_layers(written) == canonical
    assert LayerSpec.parse(spec.to_json()) == spec, "JSON round trip"


@pytest.mark.parametrize("bad, words", [
    ("ears", "unknown layer group 'ears'"), ((5, 5), "empty or negative"), ((-1, 3), "empty or negative"),
    (("a", "b", "c"), "unknown layer group"), (range(0, 8, 2), "contiguous"), (3.5, "layers must be"),
])
def test_bad_layer_specs_are_one_sentence(bad, words):
    with pytest.raises(ValueError, match=words):
        LayerSpec.parse(bad)


def test_rows_and_ranges_on_a_model():
    assert LayerSpec.parse("all").resolve(12, GROUPS) == range(12)
    assert LayerSpec.parse("coarse+medium").resolve(12, GROUPS) == range(0, 8)
    assert LayerSpec.parse("coarse+fine").rows(12, GROUPS) == [0, 1, 2, 3, 8, 9, 10, 11]
    with pytest.raises(ValueError, match="not one contiguous range"):
        LayerSpec.parse("coarse+fine").resolve(12, GROUPS)
    with pytest.raises(ValueError, match="outside 0-11"):
        LayerSpec.parse((4, 20)).resolve(12, GROUPS)
    with pytest.raises(ValueError, match="needs the model"):
        LayerSpec.parse("fine").rows(12)
    assert list(layer_rows("medium", 12, GROUPS).nonzero()[0]) == [4, 5, 6, 7]


def test_the_mixing_direction_and_timeline_helpers_agree():
    for written in ("coarse", "medium", "fine", (3, 9), range(1, 2), "all", None):
        r = resolve_layers(written, 12, GROUPS)
        assert list(r) == LayerSpec.parse(written).rows(12, GROUPS)
        d = direction_layers(written)
        assert resolve_layers(d, 12, GROUPS) == r
    with pytest.raises(ValueError, match="one layer group or one range"):
        direction_layers("coarse+fine")
