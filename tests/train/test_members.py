"""MemberStore: an ensemble's networks kept as they finish, handed back only when resuming."""
import numpy as np

from rnnkit.nn.models import SequenceModel
from rnnkit.train.members import MemberStore


def test_members_round_trip_only_when_resuming(tmp_path):
    model = SequenceModel("gru", input_size=1, hidden_size=3, output_size=2, seed=0)
    entry = {"train_loss": 0.5, "history": {"loss": [1.0, 0.5]}, "stop_reason": None}
    MemberStore(tmp_path / "members").save(0, model, entry)
    assert MemberStore(tmp_path / "members").load(0) is None  # a fresh fit trains again
    store = MemberStore(tmp_path / "members", resume=True)
    again, got = store.load(0)
    assert got == entry and store.load(1) is None
    assert all(np.array_equal(model.params[k], again.params[k]) for k in model.params)
    store.clear()
    assert not (tmp_path / "members").exists()


def test_the_probe_verdict_is_kept_for_a_resumed_fit(tmp_path):
    verdict = {"held_out": 67, "accuracy": [0.7, 0.9], "switch": True}
    MemberStore(tmp_path / "members").save_probe(verdict)
    assert MemberStore(tmp_path / "members").load_probe() is None  # a fresh fit probes again
    assert MemberStore(tmp_path / "members", resume=True).load_probe() == verdict
    assert MemberStore(tmp_path / "other", resume=True).load_probe() is None
