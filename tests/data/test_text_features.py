"""Character features of a text and the units most correlated with them."""
import numpy as np

from rnnkit.data.text_features import char_features, correlations, most_correlated


def test_features_of_a_small_text():
    f = char_features('ab "cd" (e)\nf')
    np.testing.assert_array_equal(f["position_in_line"], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
                                                           0])
    np.testing.assert_array_equal(f["inside_quotes"], [0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(f["inside_parentheses"],
                                  [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0])


def test_the_unit_that_follows_a_feature_comes_first():
    rng = np.random.default_rng(0)
    feature = (np.arange(200) % 17).astype(float)
    states = rng.standard_normal((200, 5))
    states[:, 3] = -0.1 * feature + 0.01 * rng.standard_normal(200)
    states[:, 1] = 0.0  # a dead unit
    r = correlations(states, feature)
    assert r[1] == 0.0 and r[3] < -0.99
    best = most_correlated(states, {"f": feature, "flat": np.ones(200)}, top=2)
    assert list(best) == ["f"] and best["f"][0][0] == 3
