import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lottery import config, data, models, train
from lottery.checkpoint import TrainCheckpoints, restore_tree, save_tree
from lottery.errors import LotteryError


def _tree():
    return {
        "w": {"kernel": jnp.arange(3000, dtype=jnp.float32).reshape(60, 50) / 7.0},
        "count": jnp.int32(-5),
        "mask": {"kernel": jnp.arange(3000).reshape(60, 50) % 3 == 0},
        "key": jax.random.key(42),
    }


def _template(tree):
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), tree)


def _assert_same(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
        assert np.asarray(x).tobytes() == np.asarray(y).tobytes()


@pytest.fixture(scope="module")
def trainer_state():
    rng = np.random.default_rng(0)
    ds = data.from_arrays(
        rng.normal(size=(20, 5)),
        rng.integers(0, 3, 20),
        rng.normal(size=(6, 5)),
        rng.integers(0, 3, 6),
        num_classes=3,
    )
    cfg = config.base().train
    cfg.duration = "1ep"
    cfg.batch_size = 4
    model = models.get("mlp", num_classes=3, input_shape=(5,), widths=(8,))
    trainer = train.make_trainer(model, ds, cfg)
    state = train.init_state(trainer, jax.random.key(0))
    state, _ = train.fit(trainer, state, None, ds, jax.random.key(1), progress=False)
    return trainer, state


def _largest_file(directory):
    files = [os.path.join(d, f) for d, _, fs in os.walk(directory) for f in fs]
    return max(files, key=os.path.getsize)


def _truncate(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def test_tree_round_trip_bit_exact(tmp_path):
    tree = _tree()
    save_tree(tmp_path / "ck", tree)
    _assert_same(restore_tree(tmp_path / "ck", _template(tree)), tree)
    _assert_same(restore_tree(tmp_path / "ck", tree), tree)  # arrays as template


def test_save_onto_existing_path_needs_overwrite(tmp_path):
    tree = _tree()
    save_tree(tmp_path / "ck", tree)
    with pytest.raises(LotteryError, match="overwrite"):
        save_tree(tmp_path / "ck", tree)
    tree2 = dict(tree, count=jnp.int32(9))
    save_tree(tmp_path / "ck", tree2, overwrite=True)
    _assert_same(restore_tree(tmp_path / "ck", _template(tree)), tree2)


def test_template_mismatch_raises(tmp_path):
    tree = _tree()
    save_tree(tmp_path / "ck", tree)
    bad_dtype = dict(_template(tree), count=jax.ShapeDtypeStruct((), jnp.float32))
    with pytest.raises(LotteryError, match=r"\['count'\] is int32\[\] on disk but float32"):
        restore_tree(tmp_path / "ck", bad_dtype)
    bad_shape = dict(_template(tree), w={"kernel": jax.ShapeDtypeStruct((50, 60), jnp.float32)})
    with pytest.raises(LotteryError, match="cannot restore"):
        restore_tree(tmp_path / "ck", bad_shape)
    extra = dict(_template(tree), more=jax.ShapeDtypeStruct((2,), jnp.float32))
    with pytest.raises(LotteryError, match="not saved"):
        restore_tree(tmp_path / "ck", extra)


def test_truncated_file_raises(tmp_path):
    tree = _tree()
    path = tmp_path / "ck"
    save_tree(path, tree)
    _truncate(_largest_file(path))
    with pytest.raises(LotteryError) as err:
        restore_tree(path, _template(tree))
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_missing_directory_raises(tmp_path):
    tree = _tree()
    save_tree(tmp_path / "ck", tree)
    shutil.rmtree(tmp_path / "ck")
    with pytest.raises(LotteryError, match="no such checkpoint directory") as err:
        restore_tree(tmp_path / "ck", _template(tree))
    assert str(tmp_path / "ck") in str(err.value)


def test_train_state_round_trip(tmp_path, trainer_state):
    _, state = trainer_state
    assert int(state.step) == 5
    save_tree(tmp_path / "state", state)
    restored = restore_tree(tmp_path / "state", _template(state))
    assert isinstance(restored, train.TrainState)
    _assert_same(restored, state)
    adam = restored.opt_state[0]  # adam's moments are nonzero after training
    assert type(adam).__name__ == "ScaleByAdamState" and int(adam.count) == 5


def test_train_checkpoints_keep_latest(tmp_path, trainer_state):
    _, state = trainer_state
    with TrainCheckpoints(tmp_path / "train", keep=2) as ckpts:
        assert ckpts.latest_step() is None
        with pytest.raises(LotteryError, match="no training checkpoint"):
            ckpts.restore(state)
        for step in (10, 20, 30):
            ckpts.save(step, state, {"step": step, "level": 1})
        ckpts.wait_until_finished()
        assert ckpts.latest_step() == 30
        assert ckpts.all_steps() == [20, 30]
        with pytest.raises(LotteryError, match="already saved"):
            ckpts.save(30, state, {})
    with TrainCheckpoints(tmp_path / "train", keep=2) as ckpts:  # a resumed run
        assert ckpts.latest_step() == 30
        restored, meta = ckpts.restore(_template(state))
        assert meta == {"step": 30, "level": 1}
        _assert_same(restored, state)
        _, meta = ckpts.restore(state, step=20)
        assert meta["step"] == 20
        with pytest.raises(LotteryError, match="no such step"):
            ckpts.restore(state, step=10)


def test_train_checkpoint_meta_is_a_snapshot_at_save(tmp_path, trainer_state):
    """orbax writes JSON in a background thread; a history list appended to right
    after ``save`` (as a training loop does) must not leak into the saved step."""
    _, state = trainer_state
    history = [{"epoch": 1}]
    with TrainCheckpoints(tmp_path / "train", keep=2) as ckpts:
        ckpts.save(10, state, {"history": history})
        history.append({"epoch": 2})  # before the background write has run
        history[0]["epoch"] = 99
        ckpts.wait_until_finished()
        _, meta = ckpts.restore(_template(state))
    assert meta == {"history": [{"epoch": 1}]}


def test_train_checkpoints_damaged(tmp_path, trainer_state):
    _, state = trainer_state
    with TrainCheckpoints(tmp_path / "train") as ckpts:
        ckpts.save(1, state, {})
        ckpts.save(2, state, {})
        ckpts.wait_until_finished()
        _truncate(_largest_file(tmp_path / "train" / "2"))
        with pytest.raises(LotteryError) as err:
            ckpts.restore(state)
        assert str(tmp_path / "train" / "2") in str(err.value)
        shutil.rmtree(tmp_path / "train" / "1")
        with pytest.raises(LotteryError, match="no such step") as err:
            ckpts.restore(state, step=1)
        assert str(tmp_path / "train" / "1") in str(err.value)
