"""The classifier recipe: settings that follow from the data's shape, and a fit that learns."""
import numpy as np

from rnnkit.nn import Ensemble, SequenceModel
import rnnkit.train.classifier as C
from rnnkit.train.classifier import choose_settings, fit_classifier, predict_logits


def test_settings_follow_the_shape_and_options_win():
    s = choose_settings(n=36, steps=251, channels=1, classes=3)
    assert (s.patch_size, s.batch_size, s.members, s.updates) == (8, 9, 10, 500) and s.augment
    assert "10 because the data are small (36 x 251 <= 20,000 values)" in s.reasons[2]
    # 5 networks past 20,000 values, when not patched, or when the user says
    assert choose_settings(n=100, steps=251, channels=1, classes=3).members == 5
    assert choose_settings(270, 29, 12, 9).members == 5  # short series: no patches
    assert choose_settings(36, 251, 1, 3, members=4).members == 4
    assert choose_settings(36, 251, 1, 3, diff_pattern=(False,)).members == 5
    assert choose_settings(270, 29, 12, 9).updates == 1000  # not patched: no differences
    assert choose_settings(270, 29, 12, 9).patch_size == 1  # short series: no patches
    assert choose_settings(100, 960, 1, 10).patch_size == 30  # about 32 recurrent steps
    long = choose_settings(100, 1460, 1, 10)  # but the base patch holds at most 30 steps
    assert long.patch_size == 30 and "1460 steps become 49 recurrent steps" in long.reasons[0]
    assert choose_settings(5000, 500, 1, 2).members == 1  # large data: one network
    assert choose_settings(2000, 5, 1, 2).batch_size == 32
    text = choose_settings(100, 80, 1, 2, text=True)
    assert text.patch_size == 1 and not text.augment  # token ids take neither
    # lengths that differ: the patch follows the median series, not the longest
    pickup = choose_settings(50, 361, 1, 10, median_steps=136)
    assert pickup.patch_size == 4 and choose_settings(50, 361, 1, 10).patch_size == 11
    assert ("series of median length 136 (longest 361) become 34 recurrent steps "
            "(the longest 91)") in pickup.reasons[0]
    assert choose_settings(36, 251, 1, 3, median_steps=251).reasons[0] == s.reasons[0]
    given = choose_settings(36, 251, 1, 3, members=2, patch_size=None, updates=70)
    assert given.members == 2 and given.patch_size == 8 and "(as given)" in given.reasons[2]
    assert given.updates == 70 and "70 updates (as given)" in given.reasons[1]


def test_fit_classifier_learns_and_reports(capsys):
    rng = np.random.default_rng(0)
    n, T = 24, 40
    y = np.arange(n) % 2
    x = rng.normal(0, 0.3, (n, T, 1)).astype(np.float32)
    x[:, :, 0] += np.where(y[:, None] == 1, 1.0, -1.0) * np.linspace(-1, 1, T)  # up or down
    lengths = np.full(n, T)
    s = choose_settings(n, T, 1, 2, hidden=8, updates=60, members=2)
    model, report = fit_classifier(x, y, lengths, s, 2, seed=0, log=print)
    assert isinstance(model, Ensemble) and len(report["members"]) == 2
    assert report["train_accuracy"] == 1.0
    assert np.mean(predict_logits(model, x, lengths).argmax(-1) == y) == 1.0
    assert all(m["updates"] == 60 for m in report["members"])  # 15 epochs of 4 batches of 6
    assert "schedule complete" in report["stop_reason"]
    assert "network 2/2" in capsys.readouterr().out
    again, _ = fit_classifier(x, y, lengths, s, 2, seed=0, log=None)
    for k, v in model.params.items():
        np.testing.assert_array_equal(again.params[k], v)  # the same seed, the same networks
    single, _ = fit_classifier(x, y, lengths, choose_settings(n, T, 1, 2, hidden=8,
                                                              updates=10, members=1), 2)
    assert isinstance(single, SequenceModel)


def test_ensemble_members_read_the_series_at_several_patch_sizes():
    s = choose_settings(36, 251, 1, 3)
    assert [s.member_patch(i) for i in range(5)] == [8, 4, 16, 6, 12]
    assert "the networks read patches of 4, 6, 8, 12, 16 steps" in s.reasons[0]
    configs = [s.model_config(3, seed=0, member=i)["patch_size"] for i in range(5)]
    assert configs == [8, 4, 16, 6, 12]
    assert choose_settings(36, 251, 1, 3, patch_size=8).patch_scales == (1.0,)  # as given
    short = choose_settings(270, 29, 12, 9)
    assert short.patch_scales == (1.0,) and short.model_config(9, 0, 3)["patch_size"] is None
    # no network reads patches of more than 30 steps: 2p and 3p/2 past it become p/2, 2p/3
    assert choose_settings(100, 1460, 1, 10).patches() == [30, 15, 15, 22, 20]
    assert choose_settings(100, 960, 1, 10).patches() == [30, 15, 15, 22, 20]
    assert choose_settings(100, 640, 1, 10).patches() == [20, 10, 10, 15, 30]
    assert choose_settings(100, 1460, 1, 10, patch_size=50).patches() == [50] * 5  # as given


def test_every_second_network_reads_the_series_beside_its_differences():
    s = choose_settings(36, 251, 1, 3)
    scale = [2.5]
    configs = [s.model_config(3, seed=0, member=i, diff_scale=scale) for i in range(5)]
    assert [c.get("diff_scale") for c in configs] == [None, scale, None, scale, None]
    assert "network(s) 2, 4, 6, 8, 10 read each channel beside its first difference" in s.reasons[4]
    model = SequenceModel(**configs[1])
    assert model.modules["diff"].scale.tolist() == [2.5]
    assert list(model.modules)[:3] == ["diff", "conv", "patch"]  # through the convolution
    acsf1 = choose_settings(100, 1460, 1, 10)  # n T > 90,000: differences, no convolution
    assert acsf1.reads_differences(1) and acsf1.conv_channels is None
    # not patched (short series), one network, the user's own choice or much data: none
    assert choose_settings(270, 29, 12, 9).diff_pattern == (False,)
    assert choose_settings(36, 251, 1, 3, members=1).diff_pattern == (False,)
    own = choose_settings(36, 251, 1, 3, diff_pattern=(False,))  # the networks of before
    assert own.updates == 1000 and not any(own.reads_differences(i) for i in range(5))
    assert choose_settings(1000, 251, 1, 3).diff_pattern == (False,)


def test_fit_classifier_scales_the_differences_on_the_training_data():
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.normal(0, 0.2, (12, 40, 1)), axis=1).astype(np.float32)
    y, lengths = np.arange(12) % 2, np.full(12, 40)
    s = choose_settings(12, 40, 1, 2, hidden=4, updates=2, members=2, patch_size=4)
    assert [s.reads_differences(i) for i in range(2)] == [False, True]
    model, _ = fit_classifier(x, y, lengths, s, 2, seed=0, log=None)
    d = np.diff(x[..., 0], axis=1)
    np.testing.assert_allclose(model.modules["1"].modules["diff"].scale, [1 / d.std()],
                               rtol=1e-5)
    assert "diff" not in model.modules["0"].modules


def test_every_second_network_of_a_patched_ensemble_reads_through_a_convolution():
    s = choose_settings(36, 251, 1, 3)
    configs = [s.model_config(3, seed=0, member=i) for i in range(5)]
    assert [c.get("conv_channels") for c in configs] == [None, 64, None, 64, None]
    assert ("network(s) 2, 4, 6, 8, 10 read the series through a convolution of 64 filters"
            in s.reasons[3])
    models = [SequenceModel(**c) for c in configs[:2]]
    assert "conv" not in models[0].modules and models[1].modules["conv"].kernel_size == 7
    # no patches (short series), one network, much data, or the user's own choice
    assert choose_settings(270, 29, 12, 9).conv_channels is None
    assert choose_settings(36, 251, 1, 3, members=1).conv_channels is None
    assert choose_settings(100, 1460, 1, 10).conv_channels is None  # n T > 90,000: time
    assert choose_settings(200, 427, 1, 6).conv_channels == 64  # OSULeaf, 85,400 values
    assert choose_settings(36, 251, 1, 3, text=True).conv_channels is None
    mine = choose_settings(36, 251, 1, 3, conv_channels=8, conv_pattern=(True,))
    assert all(mine.model_config(3, 0, i)["conv_channels"] == 8 for i in range(5))


def test_networks_that_read_differences_train_on_scaled_copies_without_jitter(monkeypatch):
    import rnnkit.train.classifier as C
    seen = {}

    class Spy(C.AugmentedData):
        def __init__(self, data, augment, seed=None):
            super().__init__(data, augment, seed)
            seen[len(seen)] = augment

    monkeypatch.setattr(C, "AugmentedData", Spy)
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (8, 24, 1)).astype(np.float32) + 2.0
    y, lengths = np.arange(8) % 2, np.full(8, 24)
    s = choose_settings(8, 24, 1, 2, hidden=4, updates=1, members=2, patch_size=4)
    fit_classifier(x, y, lengths, s, 2, seed=0, log=None)
    plain, diff = (seen[i](x, lengths, np.random.default_rng(1)) for i in (0, 1))
    ratio = diff / x  # scaling alone: one factor per series and channel
    np.testing.assert_allclose(ratio, np.broadcast_to(ratio[:, :1], ratio.shape), rtol=1e-5)
    assert not np.allclose(plain / x, (plain / x)[:, :1], rtol=1e-3)  # jittered


def test_a_probe_decides_the_ensemble_where_there_are_enough_examples():
    osuleaf = choose_settings(200, 427, 1, 6)  # convolution, 200 examples: probed
    assert osuleaf.probe and "a probe first trains one network of each kind" in \
        osuleaf.reasons[-1] and "(patches of 6, 10, 13 steps)" in osuleaf.reasons[-1]
    assert not choose_settings(36, 251, 1, 3).probe  # 36 examples: a third decides nothing
    assert not choose_settings(100, 1460, 1, 10).probe  # no convolution to compare
    assert not choose_settings(200, 427, 1, 6, members=5).probe  # the user's own ensemble
    assert not choose_settings(200, 427, 1, 6, conv_pattern=(True,)).probe
    switched = C.conv_only(osuleaf)
    assert (switched.members, switched.probe) == (3, False)
    configs = [switched.model_config(6, 0, i, diff_scale=[2.0]) for i in range(3)]
    assert [c["patch_size"] for c in configs] == [6, 10, 13]  # p/2, 3p/4, p of 13
    assert all(c["conv_channels"] == 64 and c["diff_scale"] == [2.0] for c in configs)


def _sloped(rng, n, T):
    """Class 1 holds a bump whose slope, not level, tells it apart."""
    y = np.arange(n) % 2
    x = rng.normal(0, 0.1, (n, T, 1)).astype(np.float32)
    x[y == 1, T // 2 : T // 2 + 4, 0] += 1.0
    return x, y, np.full(n, T)


def _probed_settings():
    """A tiny mixed ensemble of 5 that probes (the rule would not at 12 examples)."""
    s = choose_settings(12, 32, 1, 2, hidden=4, updates=2, patch_size=4, members=5,
                        conv_channels=4, conv_pattern=(False, True))
    s.probe = True
    return s


def test_probe_holds_out_a_stratified_third_and_is_reproducible():
    x, y, lengths = _sloped(np.random.default_rng(0), 30, 32)
    s = choose_settings(30, 32, 1, 2, hidden=4, updates=4, patch_size=4, members=2,
                        conv_channels=4, conv_pattern=(False, True))
    first = C.probe_kinds(x, y, lengths, s, 2, seed=3)
    assert first["held_out"] == 10 and len(first["accuracy"]) == 2
    assert all(0.0 <= a <= 1.0 for a in first["accuracy"])
    assert first["switch"] == (first["accuracy"][1] >= first["accuracy"][0] + C.PROBE_MARGIN)
    assert C.probe_kinds(x, y, lengths, s, 2, seed=3) == first


def test_fit_classifier_follows_the_probe(monkeypatch):
    x, y, lengths = _sloped(np.random.default_rng(1), 12, 32)
    s = _probed_settings()
    calls = []

    def probe(*args, **kwargs):
        calls.append(kwargs)
        return {"held_out": 4, "accuracy": [0.5, 1.0], "switch": True}

    monkeypatch.setattr(C, "probe_kinds", probe)
    model, report = C.fit_classifier(x, y, lengths, s, 2, seed=0, log=None)
    assert len(calls) == 1 and report["probe"]["switch"]
    nets = list(model.modules.values())
    assert len(nets) == 3 and report["settings"]["members"] == 3
    assert all("conv" in m.modules and "diff" in m.modules for m in nets)
    monkeypatch.setattr(C, "probe_kinds",
                        lambda *a, **k: {"held_out": 4, "accuracy": [0.9, 0.9], "switch": False})
    model, report = C.fit_classifier(x, y, lengths, s, 2, seed=0, log=None)
    nets = list(model.modules.values())
    assert len(nets) == 5 and not report["settings"]["probe"]
    assert ["conv" in m.modules for m in nets] == [False, True, False, True, False]


def test_a_resumed_fit_keeps_the_probe_verdict_it_trained_under(tmp_path, monkeypatch):
    from rnnkit.train.members import MemberStore
    x, y, lengths = _sloped(np.random.default_rng(1), 12, 32)
    s = _probed_settings()
    verdicts = iter([{"held_out": 4, "accuracy": [0.5, 1.0], "switch": True},
                     {"held_out": 4, "accuracy": [1.0, 0.5], "switch": False}])
    monkeypatch.setattr(C, "probe_kinds", lambda *a, **k: next(verdicts))
    first, report = C.fit_classifier(x, y, lengths, s, 2, seed=0, log=None,
                                     store=MemberStore(tmp_path / "m"))
    assert report["probe"]["switch"] and (tmp_path / "m" / "probe.json").is_file()
    again, report = C.fit_classifier(x, y, lengths, s, 2, seed=0, log=None,
                                     store=MemberStore(tmp_path / "m", resume=True))
    assert report["probe"]["switch"] and len(again.modules) == 3  # not probed a second time
    for k, v in first.params.items():
        np.testing.assert_array_equal(again.params[k], v)
