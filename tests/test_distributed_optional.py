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
