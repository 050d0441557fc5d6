"""The GAN's data transformer: normal scores that decode to the real values, and the calibration that
brings any generator's output back onto the train marginals."""

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ks_2samp

from augment.tabular.transformer import DataTransformer

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(finite, min_size=1, max_size=300), repeats=st.lists(finite, max_size=5),
       seed=st.integers(0, 2**16))
def test_scores_decode_to_the_values_they_encode(values, repeats, seed):
    """Any column, point masses included (a value repeated many times), comes back within a
    thousandth of its range."""
    x = np.array(values + repeats * 40)
    df = pd.DataFrame({"x": x})
    transformer = DataTransformer().fit(df, ["x"], [])
    encoded = transformer.transform(df, np.random.default_rng(seed))
    decoded = transformer.inverse_transform(encoded, np.random.default_rng(seed))["x"].to_numpy(float)
    assert np.all(np.isfinite(encoded))
    assert np.allclose(decoded, x, rtol=0, atol=1e-3 * (x.max() - x.min()) + 1e-9)
    for value in set(repeats):  # a point mass decodes to exactly its value
        assert np.all(decoded[x == value] == value)


def test_calibration_maps_any_generator_output_onto_the_train_marginals():
    rng = np.random.default_rng(0)
    n = 4000
    train = pd.DataFrame({
        "amount": np.round(rng.lognormal(3, 1, n), 2),
        "zeros": np.where(rng.random(n) < 0.6, 0, rng.integers(1, 50, n)),
        "colour": rng.choice(["red", "green", "blue", "grey"], n, p=[0.55, 0.3, 0.1, 0.05]),
    })
    transformer = DataTransformer().fit(train, ["amount", "zeros"], ["colour"])
    # A generator far off the marginals: shifted, squeezed scores and logits that prefer a rare level.
    raw = np.column_stack([0.3 * rng.normal(size=20000) + 1.5, rng.standard_t(3, 20000) - 2,
                           rng.normal(size=(20000, 4)) + [0, 0, 0, 2]]).astype(np.float32)

    def decoded(raw_rows):
        out = raw_rows + transformer.logit_bias()
        gumbel = -np.log(-np.log(rng.random((len(out), 4))))
        codes = (out[:, 2:] + gumbel).argmax(axis=1)
        out[:, 2:] = np.eye(4)[codes]
        return transformer.inverse_transform(out, rng)

    before = decoded(raw[:5000])
    transformer.calibrate(raw)
    after = decoded(raw[-5000:])
    for name in ("amount", "zeros"):
        assert ks_2samp(train[name], after[name]).statistic < 0.03 < ks_2samp(train[name], before[name]).statistic
    share = after["colour"].value_counts(normalize=True)
    wanted = train["colour"].value_counts(normalize=True)
    assert np.abs(share.reindex(wanted.index) - wanted).max() < 0.02
    transformer.calibrate(None)
    assert not transformer.logit_bias().any()
