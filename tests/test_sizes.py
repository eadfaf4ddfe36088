"""Named network sizes shared by Chronos-T5 and Chronos-Bolt."""

from __future__ import annotations

import pytest

from chronos_pkg.sizes import T5_SIZES, check_size, t5_shape


def test_a_size_with_overrides_and_the_chronos_defaults():
    shape = t5_shape("mini", {"num_layers": 2, "dropout_rate": 0.0})
    assert shape == {
        **T5_SIZES["mini"],
        "num_layers": 2,
        "dropout_rate": 0.0,
        "num_decoder_layers": 2,
        "d_kv": 64,
        "feed_forward_proj": "relu",
    }
    assert t5_shape(None, {"d_model": 8})["num_decoder_layers"] == 6


def test_unknown_sizes_are_value_errors_naming_the_setting():
    assert check_size(None) is None
    assert check_size("tiny") == "tiny"
    with pytest.raises(ValueError, match="unknown model.size 'huge'; known"):
        check_size("huge", "model.size")
    with pytest.raises(ValueError, match="unknown Bolt size 'huge'"):
        t5_shape("huge", {}, "Bolt size")
