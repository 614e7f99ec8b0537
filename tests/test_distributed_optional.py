"""nbnet without the mpi extra: a distributed fit says how to get it."""
import numpy as np
import pytest


def test_missing_mpi_says_install_the_extra(monkeypatch):
    import builtins

    import nbnet as nb
    from nbnet import distributed
    real_import = builtins.__import__

    def no_mpi(name, *a, **k):
        if name.startswith("mpi4py"):
            raise ImportError("no mpi4py")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_mpi)
    monkeypatch.setattr(distributed, "_COMM", None)
    m = nb.Sequential([nb.Input(shape=(2,)), nb.layers.Dense(1)])
    m.compile("sgd", "mse")
    with pytest.raises(RuntimeError, match=r"install nbnet\[mpi\]"):
        m.fit(np.ones((4, 2)), np.ones(4), distributed=True, verbose=0)


def test_the_trainer_drives_every_fit_through_a_strategy():
    """One loop for every fit: the strategy's hooks are called for each batch and
    epoch; the single-process strategy changes no bit; anything else is refused."""
    import nbnet as nb
    from nbnet.distributed import SingleProcess

    class Recording(SingleProcess):
        def __init__(self):
            self.calls = []

        def shard(self, s, e):
            self.calls.append(("shard", s, e))
            return super().shard(s, e)

        def sync_flags(self, model):
            self.calls.append(("sync",))

        def end(self, model):
            self.calls.append(("end",))

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 3)), rng.integers(0, 2, 50)

    def run(distributed):
        nb.utils.set_random_seed(0)
        m = nb.Sequential([nb.Input(shape=(3,)), nb.layers.Dense(4, activation="relu"),
                           nb.layers.Dense(2, activation="softmax")])
        m.compile("adam", "sparse_categorical_crossentropy")
        m.fit(x, y, batch_size=16, epochs=2, verbose=0, distributed=distributed)
        return m.get_weights()

    rec = Recording()
    for a, b in zip(run(False), run(rec)):
        assert np.array_equal(a, b)
    shards = [c[1:] for c in rec.calls if c[0] == "shard"]
    assert shards == [(0, 16), (16, 32), (32, 48), (48, 50)] * 2
    assert rec.calls.count(("sync",)) == 4 * 2 + 2 and rec.calls[-1] == ("end",)
    with pytest.raises(ValueError, match="distributed must be True, False or a strategy"):
        run("yes")
