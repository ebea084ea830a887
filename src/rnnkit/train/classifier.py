"""A sequence classifier whose settings follow from the data's shape, trained so that it
holds on data nobody tuned it for: patches, a pooled read-out, a schedule sized in updates,
augmentation and an ensemble over seeds.

    settings = choose_settings(n=36, steps=251, channels=1, classes=3)   # with its reasons
    ensemble, report = fit_classifier(x, y, lengths, settings, seed=0)

Rules (measured on the development suite of ``benchmarks/classify``):
  - patches of p = round(T / 32) steps (at least 1, at most 30), so the recurrence sees
    about 32 steps (more for series longer than ~1,000 steps: one linear map over more than
    30 steps blurs short events; ACSF1, 1,460 steps, seeds 0-2: patches of 30 0.893, of 23
    0.890, of 46 0.867), with T the median length when the lengths differ
    (PickupGestureWiimoteZ, 29-361 steps, median 136: p = 4 instead of 11, where the shorter
    half of the series had been left with 3-12 steps; seeds 0-2: 0.840 against 0.800);
    when p > 1 the ensemble's networks read patches of p, p/2, 2p, 3p/4 and 3p/2 steps,
    except that a network whose patches would pass 30 steps reads p/2 or 2p/3 instead
    (ACSF1, p = 30: networks on 60 and 45 steps scored 0.86 and 0.80-0.83 alone, on 15 and
    20 steps 0.84-0.86 and 0.85-0.90; the ensemble, seeds 0-2 on one thread, 0.900 against
    0.883);
  - when patched, with several networks and n * T <= 90,000 values, every second network
    reads the series through a convolution (64 filters of 7 steps, ReLU) before its patches
    (OSULeaf seeds 0-3: 0.842 against 0.814; the other patched sets level);
  - when patched, with several networks and n * T <= 200,000 values, those same networks
    read each channel beside its first difference (``rnnkit.nn.Difference``), and every
    network trains for 500 updates (OSULeaf 0.921 against 0.833 for seeds 0-2);
  - with 100 or more examples and the convolution, a probe decides the ensemble's make-up:
    one network of each kind (the series in patches of p; its differences through the
    convolution in patches of p/2) trains on a stratified two thirds for half the updates;
    when the second kind is 0.05 or more ahead on the held-out third, the ensemble is three
    networks of that kind (OSULeaf: those networks reach 0.93-0.97 alone against 0.69-0.85
    for the others, and their mix stopped at 0.91; on ArrowHead they are far behind, so the
    kind is measured, not assumed). OSULeaf's probes, seeds 0-4, put the second kind 0.06-0.19
    ahead (67 held-out series: 0.05 is 3 of them); with a margin of 0.10 two seeds kept the
    mix (0.897, 0.888) and the three that switched scored 0.934-0.950; at 0.05 every seed
    switches (0.937, 0.934-0.950). Below 100 examples the held-out third (12-20 series on
    ArrowHead, GunPoint, Pickup, BasicMotions) gave verdicts that were noise;
  - a bidirectional GRU read out by the mean and max of its outputs over the valid steps;
  - AdamW, linear warm-up then cosine decay over a fixed number of updates, no early stopping
    (a validation part of a few examples decides nothing: the training loss is reported);
  - jitter (relative to each series' own spread) and scaling of every training batch;
  - an ensemble of several members (seeds) while the data are small: 5 networks up to
    n * T = 200,000 values, 3 up to 2,000,000, then 1; and 10 for a patched ensemble of at
    most 20,000 values, so that each of the five patch scales is read by both kinds of network
    (ArrowHead, seeds 0-2 on one thread: 0.857 on every seed against 0.829-0.840 for 5;
    PickupGestureWiimoteZ 0.847 both ways; GunPoint and BasicMotions are at 1.000 with 5).
"""
from __future__ import annotations

import functools
import math
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from rnnkit.core.init import seed_sequence
from rnnkit.data.augment import augment_series
from rnnkit.data.preprocess import stratified_split
from rnnkit.nn.difference import difference_scale
from rnnkit.nn.ensemble import Ensemble
from rnnkit.nn.losses import CrossEntropyLoss
from rnnkit.nn.models import SequenceModel
from rnnkit.nn.module import no_grad
from rnnkit.train.batches import ArrayData, AugmentedData
from rnnkit.train.optim import AdamW
from rnnkit.train.schedules import WarmupCosineLR
from rnnkit.train.trainer import Trainer

TARGET_STEPS = 32  # recurrent steps after patching
MAX_PATCH = 30  # steps the base patch may hold (the members scale it; see the rules above)
MULTISCALE = (1.0, 0.5, 2.0, 0.75, 1.5)  # members' patch scales when the series is patched
CONV_CHANNELS = 64  # filters of the convolution that every second member reads through
# n * T up to which the convolution is added. The whole default run's time grows with n * T;
# with the convolution OSULeaf (200 x 427 = 85,400 values) took 170 s on 2 cores
# (benchmarks/classify/RESULTS.md), so past ~90,000 values it would pass 3 minutes
CONV_MAX_VALUES = 90_000
# n * T up to which every second network of a patched ensemble reads the series beside its
# first differences (rnnkit.nn.Difference; through the convolution where there is one), and
# the networks train for 500 updates instead of 1000. Seeds 0-2 on one thread, 5 networks:
# OSULeaf 0.921 against 0.833 (a network reading the differences through the convolution
# reaches 0.90-0.97 alone), ArrowHead 0.846 against 0.806, Pickup 0.853 against 0.833
DIFF_MAX_VALUES = 200_000
DIFF_UPDATES = 500
# n * T up to which a patched ensemble that mixes both kinds of network has 10 networks, not 5:
# the five patch scales (period 5) and the two kinds (period 2) then meet in every pairing.
# Small data make each network cheap (ArrowHead, 36 x 251: ~7 s a network on 2 cores) and
# its score noisy, which averaging more networks removes
PAIRED_MAX_VALUES = 20_000
PAIRED_MEMBERS = 10
# the probe (see the rules above): examples needed (a held-out third of at least ~33), the
# lead that switches the ensemble to networks that read differences through the convolution,
# and that ensemble's patch scales
PROBE_MIN_EXAMPLES = 100
PROBE_FRACTION = 1 / 3
PROBE_MARGIN = 0.05
CONV_ONLY_SCALES = (0.5, 0.75, 1.0)
PROBE_SEED_BASE = 1000  # the probe's seeds: children 1000.. of the seed (members take 0..)


@dataclass
class ClassifierSettings:
    """How one classifier is built and trained; ``reasons`` says why, for the log."""
    cell: str = "gru"
    hidden: int = 128
    layers: int = 1
    bidirectional: bool = True
    patch_size: int = 1
    conv_channels: int | None = None  # a Conv1d + ReLU over the raw steps before the patches
    conv_kernel: int = 7
    # member i has the convolution if conv_pattern[i % len]: mixed ensembles measured better
    # than all-conv or no-conv ones (benchmarks/classify, see choose_settings)
    conv_pattern: tuple = (True,)
    # member i reads each channel beside its first difference (rnnkit.nn.Difference, scaled
    # to unit spread on the training data) if diff_pattern[i % len]
    diff_pattern: tuple = (False,)
    updates: int = 1000
    batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 1e-2
    warmup_fraction: float = 0.1
    members: int = 5
    # member i reads patches of patch_size * patch_scales[i % len]: networks that see the
    # series at different resolutions disagree in useful ways (measured on
    # benchmarks/classify, seeds 0-1: Pickup 0.81 vs 0.75, ArrowHead 0.80 vs 0.79)
    patch_scales: tuple = (1.0,)
    # a member whose scale above 1 would give patches longer than this reads patches of
    # patch_size / scale instead (None: no cap)
    max_patch: int | None = None
    augment: bool = True
    # before training, measure on a held-out third whether networks that read differences
    # through the convolution are clearly ahead (see probe_kinds)
    probe: bool = False
    clip_norm: float = 1.0
    inputs: dict = field(default_factory=dict)  # input_size=C, or vocab_size and embedding_dim
    variants: dict = field(default_factory=dict)  # recurrent-layer variants (SequenceModel)
    reasons: list = field(default_factory=list)

    def member_patch(self, member: int) -> int:
        """Steps per patch of ensemble member ``member`` (0-based)."""
        scale = self.patch_scales[member % len(self.patch_scales)]
        steps = self.patch_size * scale
        if self.max_patch is not None and scale > 1 and steps > self.max_patch:
            steps = self.patch_size / scale  # mirrored: finer, not coarser past the cap
        return max(1, round(steps))

    def patches(self) -> list:
        """Steps per patch of every member, in order."""
        return [self.member_patch(i) for i in range(self.members)]

    def reads_differences(self, member: int) -> bool:
        return bool(self.diff_pattern[member % len(self.diff_pattern)])

    def model_config(self, classes: int, seed, member: int = 0, diff_scale=None) -> dict:
        """Network ``member``'s SequenceModel config; ``diff_scale`` (one number per
        channel, ``rnnkit.nn.difference.difference_scale`` of the training data) for the
        members that read differences."""
        patch = self.member_patch(member)
        use = self.conv_pattern[member % len(self.conv_pattern)]
        front = ({} if self.conv_channels is None or not use else
                 dict(conv_channels=self.conv_channels, conv_kernel=self.conv_kernel))
        if self.reads_differences(member):
            front["diff_scale"] = 1.0 if diff_scale is None else diff_scale
        return dict(cell=self.cell, hidden_size=self.hidden, output_size=classes,
                    num_layers=self.layers, bidirectional=self.bidirectional, head="pool",
                    patch_size=patch if patch > 1 else None, seed=seed, **front, **self.inputs,
                    **self.variants)


def choose_settings(n: int, steps: int, channels: int, classes: int, *, text: bool = False,
                    median_steps: float | None = None, **overrides) -> ClassifierSettings:
    """Settings from the training set's size ``n``, its longest series ``steps`` (and the
    median length ``median_steps`` when the lengths differ), the channels and the classes
    (``text``: token ids, which take no patches and no series augmentation); ``overrides``
    (not None) win over the rules."""
    s = ClassifierSettings(inputs={"input_size": channels})
    typical = steps if median_steps is None else min(float(median_steps), steps)
    s.patch_size = 1 if text else min(MAX_PATCH, max(1, round(typical / TARGET_STEPS)))
    s.augment = not text
    s.batch_size = int(min(32, max(4, n // 4)))
    s.updates = 1000
    s.members = 5 if n * steps <= 200_000 else 3 if n * steps <= 2_000_000 else 1
    given = {key for key, value in overrides.items() if value is not None}
    for key in given:
        setattr(s, key, overrides[key])
    with_diff = (s.patch_size > 1 and s.members > 1 and "diff_pattern" not in given
                 and n * steps <= DIFF_MAX_VALUES)
    if with_diff:
        s.diff_pattern = (False, True)
        s.updates = s.updates if "updates" in given else DIFF_UPDATES
    if "patch_scales" not in given and "patch_size" not in given and s.patch_size > 1:
        s.patch_scales, s.max_patch = MULTISCALE, MAX_PATCH
        if with_diff and "members" not in given and n * steps <= PAIRED_MAX_VALUES:
            s.members = PAIRED_MEMBERS
    if (not given & {"conv_channels", "conv_pattern"} and s.patch_size > 1 and s.members > 1
            and n * steps <= CONV_MAX_VALUES):
        s.conv_channels, s.conv_pattern = CONV_CHANNELS, (False, True)
    s.probe = (s.conv_channels is not None and n >= PROBE_MIN_EXAMPLES
               and s.reads_differences(1) and s.conv_pattern[1 % len(s.conv_pattern)]
               and not given & {"members", "conv_pattern", "diff_pattern", "patch_scales"})
    mark = {key: " (as given)" if key in given else "" for key in ("patch_size", "batch_size",
                                                                  "updates", "members")}
    sizes = sorted(set(s.patches()))
    scales = (f" (the networks read patches of {', '.join(map(str, sizes))} steps)"
              if len(sizes) > 1 else "")
    convs = [i + 1 for i in range(s.members)
             if s.conv_channels and s.conv_pattern[i % len(s.conv_pattern)]]
    diffs = [i + 1 for i in range(s.members) if s.reads_differences(i)]
    probe_sizes = ", ".join(map(str, conv_only(s).patches())) if s.probe else ""
    s.reasons = [
        f"patches of {s.patch_size} steps{mark['patch_size']}{scales}: " + (
            f"{steps} steps become {-(-steps // s.patch_size)} recurrent steps"
            if typical == steps else
            f"series of median length {typical:g} (longest {steps}) become "
            f"{-(-round(typical) // s.patch_size)} recurrent steps (the longest "
            f"{-(-steps // s.patch_size)})"),
        f"batches of {s.batch_size}{mark['batch_size']} ({n} training examples), "
        f"{s.updates} updates{mark['updates']} with warm-up and cosine decay",
        f"{s.members} network(s){mark['members']}" + (
            ", their probabilities averaged (averaging removes most of the seed-to-seed spread)"
            if s.members > 1 else "") + (
            f"; {PAIRED_MEMBERS} because the data are small ({n} x {steps} <= "
            f"{PAIRED_MAX_VALUES:,} values): every patch size is read by both kinds of network"
            if s.members == PAIRED_MEMBERS and "members" not in given else ""),
        *([f"network(s) {', '.join(map(str, convs))} read the series through a convolution "
           f"of {s.conv_channels} filters of {s.conv_kernel} steps (with a ReLU) before the "
           "patches: local shapes, a second kind of network in the ensemble"] if convs else []),
        *([f"network(s) {', '.join(map(str, diffs))} read each channel beside its first "
           "difference (scaled to unit spread on the training data): slopes as well as "
           "levels, a second view of the series"] if diffs else []),
        *([f"a probe first trains one network of each kind (like networks 1 and 2) on two "
           f"thirds of the data: when the second kind is {PROBE_MARGIN:.2f} or more ahead on "
           f"the held-out third, the ensemble is {len(CONV_ONLY_SCALES)} networks of that kind "
           f"(patches of {probe_sizes} steps)"] if s.probe else []),
    ]
    return s


def conv_only(settings: ClassifierSettings) -> ClassifierSettings:
    """The ensemble the probe switches to: networks that all read each channel beside its
    differences through the convolution, in patches of p/2, 3p/4 and p."""
    return replace(settings, members=len(CONV_ONLY_SCALES), conv_pattern=(True,),
                   diff_pattern=(True,), patch_scales=CONV_ONLY_SCALES, probe=False)


def probe_kinds(x, y, lengths, settings: ClassifierSettings, classes: int, seed=0, *,
                log=None, max_minutes=None, engine_factory=None) -> dict:
    """Networks 1 and 2 of the ensemble (the series in patches; differences through the
    convolution) each trained on a stratified two thirds for half the updates, scored on the
    held-out third. Returns {"held_out", "accuracy": [series, differences], "switch"}: switch
    when the second is ``PROBE_MARGIN`` or more ahead. Its seeds are not the members'."""
    split_seed, *net_seeds = seed_sequence(seed).spawn(PROBE_SEED_BASE + 3)[PROBE_SEED_BASE:]
    keep, held = stratified_split(y, PROBE_FRACTION, np.random.default_rng(split_seed))
    brief = replace(settings, updates=max(1, settings.updates // 2))
    scores = []
    for member, net_seed in zip((0, 1), net_seeds):
        model, _, _ = fit_member(x[keep], y[keep], lengths[keep], brief, classes,
                                 int(net_seed.generate_state(1)[0]), member=member,
                                 max_minutes=max_minutes, engine_factory=engine_factory)
        scores.append(accuracy(predict_logits(model, x[held], lengths[held]), y[held]))
    switch = scores[1] >= scores[0] + PROBE_MARGIN
    if log:
        log(f"probe on {len(held)} held-out series: networks reading the series "
            f"{scores[0]:.3f}, reading differences through the convolution {scores[1]:.3f}: "
            + (f"the ensemble is {len(CONV_ONLY_SCALES)} networks of the second kind" if switch
               else "the mixed ensemble stays"))
    return {"held_out": int(len(held)), "accuracy": scores, "switch": bool(switch)}


def _verdict(x, y, lengths, settings, classes, seed, log, max_minutes, engine_factory, store):
    """The probe's result: the one an interrupted fit saved in ``store``, else measured now
    (and saved there)."""
    saved = store.load_probe() if store is not None else None
    if saved is not None:
        if log:
            log("probe: its verdict before the interruption is kept")
        return saved
    probe = probe_kinds(x, y, lengths, settings, classes, seed, log=log,
                        max_minutes=None if max_minutes is None else max_minutes / 7,
                        engine_factory=engine_factory)
    if store is not None:
        store.save_probe(probe)
    return probe


def accuracy(logits, y) -> float:
    return float(np.mean(np.asarray(logits).argmax(-1) == y))


def predict_logits(model, x, lengths, batch_size=256) -> np.ndarray:
    """Logits (N, K) without caches, in batches, each trimmed to its longest series."""
    out = []
    with no_grad():
        for s in range(0, len(x), batch_size):
            xb, lb = x[s : s + batch_size], lengths[s : s + batch_size]
            out.append(model.forward(xb[:, : lb.max()], lengths=lb))
    return np.concatenate(out)


def fit_member(x, y, lengths, settings: ClassifierSettings, classes: int, seed, *, log=None,
               engine_factory=None, max_minutes=None, member: int = 0, diff_scale=None):
    """Network number ``member`` on all of (x, y): returns (model, history, trainer)."""
    if diff_scale is None and settings.reads_differences(member):
        diff_scale = difference_scale(x, lengths)
    model = SequenceModel(**settings.model_config(classes, seed, member, diff_scale))
    data = ArrayData(x, y, lengths)
    per_epoch = data.num_batches(settings.batch_size)
    epochs = max(1, math.ceil(settings.updates / per_epoch))
    total = epochs * per_epoch  # the schedule ends with the last update
    optimizer = AdamW(model, lr=settings.lr, weight_decay=settings.weight_decay)
    schedule = WarmupCosineLR(optimizer, total, int(settings.warmup_fraction * total))
    shuffle_seed, augment_seed = seed_sequence(seed).spawn(2)
    if settings.augment:
        # jitter would swamp the differences a network reads (on a smooth series a step's
        # change is a few percent of the spread, about the jitter's size): scaling only
        augment = (functools.partial(augment_series, jitter_sigma=0.0)
                   if settings.reads_differences(member) else augment_series)
        data = AugmentedData(data, augment, augment_seed)
    engine = None if engine_factory is None else engine_factory(model, optimizer)
    trainer = Trainer(model, CrossEntropyLoss(), optimizer, schedule=schedule,
                      clip_norm=settings.clip_norm, progress=False, engine=engine,
                      seed=np.random.default_rng(shuffle_seed), log=log,
                      metrics={"accuracy": accuracy}, max_minutes=max_minutes)
    history = trainer.fit(data, epochs=epochs, batch_size=settings.batch_size, verbose=False)
    model.eval()
    return model, history, trainer


def fit_classifier(x, y, lengths, settings: ClassifierSettings, classes: int, seed=0, *,
                   log=print, engine_factory=None, max_minutes=None, store=None):
    """Train ``settings.members`` networks with independent seeds on all of the training
    data; returns the :class:`Ensemble` (or the single model) and a report: per-member
    training loss and accuracy, the ensemble's training accuracy, seconds, why it stopped.
    ``max_minutes`` bounds the whole fit: each network gets an equal share of what is left,
    and a network cut short by it says so in the report. ``store``
    (:class:`rnnkit.train.members.MemberStore`) keeps each network as it finishes and hands
    back those a killed fit already trained. With ``settings.probe``, :func:`probe_kinds`
    runs first and may replace the ensemble by :func:`conv_only`'s; the report's "probe" and
    "settings" say what was measured and what was trained."""
    start = time.perf_counter()
    probe = None
    if settings.probe:
        probe = _verdict(x, y, lengths, settings, classes, seed, log, max_minutes,
                         engine_factory, store)
        settings = conv_only(settings) if probe["switch"] else replace(settings, probe=False)
    members, report = [], {"members": [], "settings": asdict(settings), "probe": probe}
    # an int per network, so that the saved configs are plain JSON and rebuild exactly
    member_seeds = [int(s.generate_state(1)[0])
                    for s in seed_sequence(seed).spawn(settings.members)]
    diff_scale = (difference_scale(x, lengths)
                  if any(settings.reads_differences(i) for i in range(settings.members))
                  else None)
    for i, member_seed in enumerate(member_seeds):
        done = store.load(i) if store is not None else None
        if done is not None:
            members.append(done[0])
            report["members"].append(done[1])
            if log:
                log(f"network {i + 1}/{settings.members}: trained before the interruption")
            continue
        share = None
        if max_minutes is not None:
            left = max_minutes - (time.perf_counter() - start) / 60
            share = max(left / (settings.members - i), 1e-3)
        model, history, trainer = fit_member(x, y, lengths, settings, classes, member_seed,
                                             log=log, engine_factory=engine_factory,
                                             max_minutes=share, member=i,
                                             diff_scale=diff_scale)
        members.append(model)
        train_acc = accuracy(predict_logits(model, x, lengths), y)
        report["members"].append({"train_loss": history["loss"][-1],
                                  "train_accuracy": train_acc, "updates": trainer.step,
                                  "stop_reason": trainer.stop_reason, "history": history})
        if store is not None:
            store.save(i, model, report["members"][-1])
        if log:
            log(f"network {i + 1}/{settings.members}: {trainer.step} updates, training loss "
                f"{history['loss'][-1]:.4f}, training accuracy {train_acc:.3f} "
                f"({time.perf_counter() - start:.1f} s so far)")
    model = members[0] if len(members) == 1 else Ensemble(*members).eval()
    report["train_accuracy"] = accuracy(predict_logits(model, x, lengths), y)
    report["seconds"] = time.perf_counter() - start
    cut = [m["stop_reason"] for m in report["members"] if m["stop_reason"]]
    report["stop_reason"] = cut[0] if cut else \
        f"schedule complete: {report['members'][0]['updates']} updates per network"
    return model, report
