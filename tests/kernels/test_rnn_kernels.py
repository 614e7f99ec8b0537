"""nbnet.kernels.rnn against plain NumPy references (float64 rtol 1e-10, float32), and
bitwise equality at 1 and 2 Numba threads."""
import numba
import numpy as np
import pytest

from nbnet.kernels import rnn as K
from nbnet.kernels.gemm import cblas

ACT = {K.TANH: np.tanh, K.SIGMOID: lambda v: 1 / (1 + np.exp(-v)),
       K.RELU: lambda v: np.maximum(v, 0), K.LINEAR: lambda v: v,
       K.HARD_SIGMOID: lambda v: np.clip((v + 3) / 6, 0, 1)}
DACT = {K.TANH: lambda y: 1 - y * y, K.SIGMOID: lambda y: y * (1 - y),
        K.RELU: lambda y: (y > 0) * 1.0, K.LINEAR: lambda y: np.ones_like(y),
        K.HARD_SIGMOID: lambda y: ((y > 0) & (y < 1)) / 6.0}


def _gate_masks(h, rmask, U, G):
    """h' for each gate: G copies of h times rmask (N, U) or its per-gate masks (N, G*U)."""
    if rmask.shape[1] == U:
        return [h * rmask] * G
    return [h * rmask[:, g * U:(g + 1) * U] for g in range(G)]


def _rec(hps, R, U, gates):
    """The recurrent products of the listed gates, concatenated: h'_g @ R_g."""
    return np.concatenate([hps[g] @ R[:, g * U:(g + 1) * U] for g in gates], 1)


def ref_forward(cell, xz, R, b0, b1, h0, c0, mk, om, rmask, act, ract):
    """xz (T, N, GU) = x @ W. Returns outputs (T, N, U), Hs, Cs, gates, TC, AH."""
    T, N, GU = xz.shape
    U = R.shape[0]
    NG = GU // U
    f, g = ACT[act], ACT[ract]
    h, c = h0.copy(), c0.copy()
    Hs, Cs, G, TC, AH, out = [h], [c], [], [], [], []
    for t in range(T):
        hps = _gate_masks(h, rmask, U, NG)
        m = mk[t][:, None]
        if cell == K.LSTM:
            a = xz[t] + _rec(hps, R, U, range(4)) + b0
            i, fg, gg, o = g(a[:, :U]), g(a[:, U:2 * U]), f(a[:, 2 * U:3 * U]), g(a[:, 3 * U:])
            cn = fg * c + i * gg
            tc = f(cn)
            hn = o * tc
            G.append(np.concatenate([i, fg, gg, o], 1))
            TC.append(tc)
            c = np.where(m, cn, c)
        elif cell == K.GRU:
            ax = xz[t] + b0
            ah = _rec(hps, R, U, range(3)) + b1
            z = g(ax[:, :U] + ah[:, :U])
            r = g(ax[:, U:2 * U] + ah[:, U:2 * U])
            hh = f(ax[:, 2 * U:] + r * ah[:, 2 * U:])
            hn = z * h + (1 - z) * hh
            G.append(np.concatenate([z, r, hh], 1))
            AH.append(ah[:, 2 * U:])
        elif cell == K.GRU1:   # reset_after=False: the reset gate before the product
            a = xz[t] + b0
            z = g(a[:, :U] + _rec(hps, R, U, [0]))
            r = g(a[:, U:2 * U] + _rec(hps, R, U, [1]))
            hh = f(a[:, 2 * U:] + (r * hps[2]) @ R[:, 2 * U:])
            hn = z * h + (1 - z) * hh
            G.append(np.concatenate([z, r, hh], 1))
            AH.append(r * hps[2])
        else:
            hn = f(xz[t] + _rec(hps, R, U, [0]) + b0)
            G.append(hn)
        h = np.where(m, hn, h)
        Hs.append(h)
        Cs.append(c)
        out.append(om[t][:, None] * h)
    return np.array(out), np.array(Hs), np.array(Cs), np.array(G), TC, AH


def ref_backward(cell, dout, dhT, dcT, R, Hs, Cs, G, TC, AH, mk, rmask, act, ract):
    """dout (T, N, U) = dL/d(outputs) (om already applied by the caller).
    Returns dZ, dZh (T, N, GU), dh0, dc0."""
    T, N, U = dout.shape
    NG = G.shape[2] // U
    dh, dc = dhT.copy(), dcT.copy()
    dZ = np.zeros(G.shape)
    dZh = np.zeros(G.shape)
    df, dg = DACT[act], DACT[ract]
    ms = [rmask] * NG if rmask.shape[1] == U else \
        [rmask[:, g * U:(g + 1) * U] for g in range(NG)]

    def back(d):   # dL/dh_prev from the gates' pre-activations, each times its mask
        return sum((d[:, g * U:(g + 1) * U] @ R[:, g * U:(g + 1) * U].T) * ms[g]
                   for g in range(NG))
    for t in range(T - 1, -1, -1):
        dh = dh + dout[t]
        m = mk[t][:, None]
        if cell == K.LSTM:
            i, fg, gg, o = (G[t][:, k * U:(k + 1) * U] for k in range(4))
            dcn = dc + dh * o * df(TC[t])
            d = np.concatenate([dcn * gg * dg(i), dcn * Cs[t] * dg(fg), dcn * i * df(gg),
                                dh * TC[t] * dg(o)], 1) * m
            dc = np.where(m, dcn * fg, dc)
            dZ[t] = dZh[t] = d
            dh = np.where(m, 0, dh) + back(d)
        elif cell == K.GRU:
            z, r, hh = (G[t][:, k * U:(k + 1) * U] for k in range(3))
            dz = dh * (Hs[t] - hh) * dg(z)
            dah = dh * (1 - z) * df(hh)
            dr = dah * AH[t] * dg(r)
            dZ[t] = np.concatenate([dz, dr, dah], 1) * m
            dZh[t] = np.concatenate([dz, dr, dah * r], 1) * m
            dh = np.where(m, dh * z, dh) + back(dZh[t])
        elif cell == K.GRU1:
            z, r, hh = (G[t][:, k * U:(k + 1) * U] for k in range(3))
            hp = Hs[t] * ms[2]
            dz = dh * (Hs[t] - hh) * dg(z)
            dah = dh * (1 - z) * df(hh)
            drh = dah @ R[:, 2 * U:].T                 # d(r * h_prev')
            dr = drh * hp * dg(r)
            dZ[t] = dZh[t] = np.concatenate([dz, dr, dah], 1) * m
            dhp = (dZ[t][:, :U] @ R[:, :U].T) * ms[0] + \
                (dZ[t][:, U:2 * U] @ R[:, U:2 * U].T) * ms[1] + drh * r * m * ms[2]
            dh = np.where(m, dh * z, dh) + dhp
        else:
            d = dh * df(G[t]) * m
            dZ[t] = dZh[t] = d
            dh = np.where(m, 0, dh) + back(d)
    return dZ, dZh, dh, dc


def _case(cell, dtype, N=5, T=6, U=4, F=3, masked=True, rdrop=True, act=K.TANH, ract=K.SIGMOID,
          seed=0, pergate=False):
    """pergate: per-gate masks (Keras' implementation 1): xt holds G inputs (T, N, G*F),
    rmask G masks (N, G*U)."""
    rng = np.random.default_rng(seed)
    G = K.GATES[cell]
    mg = G if pergate else 1
    c = dict(cell=cell, act=act, ract=ract, N=N, T=T, U=U, dtype=dtype)
    c["x"] = rng.normal(size=(T, N, mg * F)).astype(dtype)
    c["W"] = (rng.normal(size=(F, G * U)) * 0.5).astype(dtype)
    c["R"] = (rng.normal(size=(U, G * U)) * 0.5).astype(dtype)
    c["b0"] = rng.normal(size=G * U).astype(dtype) * 0.1
    c["b1"] = rng.normal(size=G * U).astype(dtype) * 0.1 if cell == K.GRU else np.zeros(G * U, dtype)
    c["h0"] = rng.normal(size=(N, U)).astype(dtype) * 0.5
    c["c0"] = rng.normal(size=(N, U)).astype(dtype) * 0.5
    mask = rng.random((N, T)) > 0.3 if masked else np.ones((N, T), bool)
    mk = np.empty((T, N), bool)
    om = np.empty((T, N), dtype)
    K.step_masks(mk, om, mask, False, False)
    c["mask"], c["mk"], c["om"], c["masked"] = mask, mk, om, masked
    c["rmask"] = ((rng.random((N, mg * U)) > 0.25) / 0.75).astype(dtype) if rdrop else \
        np.ones((N, U), dtype)
    c["rdrop"] = rdrop
    c["dout"] = rng.normal(size=(N, T, U)).astype(dtype)
    c["dhT"] = rng.normal(size=(N, U)).astype(dtype)
    c["dcT"] = rng.normal(size=(N, U)).astype(dtype)
    return c


def _run(c, chunk=8, fns=None):
    """The kernels on case c -> forward and backward results (numpy arrays)."""
    cell, T, N, U, dt = c["cell"], c["T"], c["N"], c["U"], c["dtype"]
    GU = K.GATES[cell] * U
    e3 = np.empty((0, 0, 0), dt)
    e2 = np.empty((0, 0), dt)
    if fns is None:
        fns, ilp64 = cblas() or (np.empty(0, np.int64), False)
    else:
        fns, ilp64 = fns
    Z = np.full((T, N, GU), np.nan, dt)  # overwritten: the projection, then the gates
    Hs = np.empty((T + 1, N, U), dt)
    Hs[0] = c["h0"]
    lstm, gru = cell == K.LSTM, cell == K.GRU
    Cs = np.empty((T + 1, N, U), dt) if lstm else e3
    if lstm:
        Cs[0] = c["c0"]
    TC = np.empty((T, N, U), dt) if lstm else e3
    AH = np.empty((T, N, U), dt) if cell in (K.GRU, K.GRU1) else e3
    Hd = np.empty((T, N, c["rmask"].shape[1]), dt) if c["rdrop"] else e3
    nch = (N + chunk - 1) // chunk
    S = np.empty((nch, chunk, GU), dt)
    y = np.empty((N, T, U), dt)
    rmask = c["rmask"] if c["rdrop"] else e2
    K.rnn_forward(y, Z, Hs, Cs, TC, AH, Hd, S, c["x"], c["W"], c["R"], c["b0"], c["b1"], c["mk"], c["om"],
                  rmask, cell, c["act"], c["ract"], c["masked"], c["rdrop"], True, chunk, fns, ilp64)
    dZ = np.empty((T, N, GU), dt)
    dZh = np.empty((T, N, GU), dt) if gru else dZ
    dHc = c["dhT"].copy()
    dC = c["dcT"].copy() if lstm else e2
    Sb = np.empty((nch, chunk, 2 * U if cell == K.GRU1 else U), dt)
    RT = np.ascontiguousarray(c["R"].T)
    K.rnn_backward(dZ, dZh, dHc, dC, Sb, c["dout"], Z, Hs, Cs, TC, AH, Hd, RT, c["mk"], c["om"],
                   rmask, cell, c["act"], c["ract"], c["masked"], c["rdrop"], True, chunk, fns,
                   ilp64)
    return dict(y=y, Hs=Hs, Cs=Cs, G=Z, dZ=dZ, dZh=dZh, dh0=dHc, dc0=dC)


def _check(c, got, rtol, atol):
    cell = c["cell"]
    f64 = {k: (v.astype(np.float64) if isinstance(v, np.ndarray) else v) for k, v in c.items()}
    F, U = c["W"].shape[0], c["U"]
    mg = c["x"].shape[2] // F
    W, x = f64["W"], f64["x"]
    xz = x @ W if mg == 1 else np.concatenate(
        [x[:, :, g * F:(g + 1) * F] @ W[:, g * U:(g + 1) * U] for g in range(mg)], 2)
    out, Hs, Cs, G, TC, AH = ref_forward(cell, xz, f64["R"], f64["b0"], f64["b1"],
                                         f64["h0"], f64["c0"], c["mk"], f64["om"], f64["rmask"],
                                         c["act"], c["ract"])
    ok = dict(rtol=rtol, atol=atol)
    np.testing.assert_allclose(got["y"], out.transpose(1, 0, 2), **ok)
    np.testing.assert_allclose(got["Hs"], Hs, **ok)
    np.testing.assert_allclose(got["G"], G, **ok)
    if cell == K.LSTM:
        np.testing.assert_allclose(got["Cs"], Cs, **ok)
    dout = f64["dout"].transpose(1, 0, 2) * f64["om"][:, :, None]
    dZ, dZh, dh0, dc0 = ref_backward(cell, dout, f64["dhT"], f64["dcT"] if cell == K.LSTM else
                                     np.zeros_like(f64["dhT"]), f64["R"], Hs, Cs, G, TC, AH,
                                     c["mk"], f64["rmask"], c["act"], c["ract"])
    np.testing.assert_allclose(got["dZ"], dZ, **ok)
    np.testing.assert_allclose(got["dZh"], dZh, **ok)
    np.testing.assert_allclose(got["dh0"], dh0, **ok)
    if cell == K.LSTM:
        np.testing.assert_allclose(got["dc0"], dc0, **ok)


CELLS = [K.SIMPLE, K.LSTM, K.GRU, K.GRU1]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("masked,rdrop", [(False, False), (True, True)])
def test_kernels_float64(cell, masked, rdrop):
    c = _case(cell, np.float64, masked=masked, rdrop=rdrop)
    _check(c, _run(c), 1e-10, 1e-12)


@pytest.mark.parametrize("cell", [K.LSTM, K.GRU, K.GRU1])
@pytest.mark.parametrize("dtype,tol", [(np.float64, (1e-10, 1e-12)), (np.float32, (2e-4, 2e-5))])
def test_kernels_per_gate_masks(cell, dtype, tol):
    """Keras' implementation 1: one input and one recurrent mask per gate."""
    c = _case(cell, dtype, pergate=True, N=11)
    _check(c, _run(c), *tol)
    _check(c, _run(c, fns=(np.empty(0, np.int64), False)), *tol)


@pytest.mark.parametrize("cell", CELLS)
def test_kernels_float32(cell):
    c = _case(cell, np.float32)
    _check(c, _run(c), 2e-4, 2e-5)


@pytest.mark.parametrize("act,ract", [(K.RELU, K.HARD_SIGMOID), (K.LINEAR, K.SIGMOID)])
def test_other_activations(act, ract):
    for cell in CELLS:
        c = _case(cell, np.float64, act=act, ract=ract, seed=3)
        _check(c, _run(c), 1e-10, 1e-12)


def test_several_chunks_and_no_blas():
    """Rows split in chunks of 8 (N = 19: 3 chunks, the last partial), and the plain-loop
    product used when no CBLAS is found."""
    for cell in (K.LSTM, K.GRU1):   # GRU1: products on column slices of R and Z
        c = _case(cell, np.float64, N=19)
        _check(c, _run(c, chunk=8), 1e-10, 1e-12)
        _check(c, _run(c, chunk=8, fns=(np.empty(0, np.int64), False)), 1e-10, 1e-12)


def test_row_chunk_ignores_threads():
    assert K.row_chunk(32, 2) == 16 and K.row_chunk(128, 2) == 64 and K.row_chunk(3, 2) == 8
    assert all(K.row_chunk(n, c) % 8 == 0 for n in (1, 7, 33, 1000) for c in (1, 2, 6))


def test_step_masks():
    mask = np.array([[False, True, False, True], [False, False, False, False]])
    mk = np.empty((4, 2), bool)
    om = np.empty((4, 2))
    K.step_masks(mk, om, mask, False, False)
    np.testing.assert_array_equal(mk, mask.T)
    np.testing.assert_array_equal(om[:, 0], [0, 1, 1, 1])
    np.testing.assert_array_equal(om[:, 1], [0, 0, 0, 0])
    K.step_masks(mk, om, mask, True, True)   # reversed, zero output at masked steps
    np.testing.assert_array_equal(mk[:, 0], [True, False, True, False])
    np.testing.assert_array_equal(om[:, 0], [1, 0, 1, 0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layout_kernels(dtype):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 5, 4)).astype(dtype)
    dm = rng.normal(size=(3, 4)).astype(dtype)
    xt = np.empty((5, 3, 4), dtype)
    for back in (False, True):
        K.to_time_major(xt, x, dm, True, back)
        ref = (x * dm[:, None, :]).transpose(1, 0, 2)
        np.testing.assert_array_equal(xt, ref[::-1] if back else ref)
        dx = np.empty_like(x)
        K.from_time_major(dx, xt, dm, True, back)
        np.testing.assert_allclose(dx, x * dm[:, None, :] ** 2, rtol=1e-6)
        K.to_time_major(xt, x, dm, False, back)
        np.testing.assert_array_equal(xt, x.transpose(1, 0, 2)[::-1] if back else x.transpose(1, 0, 2))
    a = rng.normal(size=(300, 70)).astype(dtype)
    out = np.empty(70, dtype)
    K.column_sums(out, a)
    np.testing.assert_allclose(out, a.astype(np.float64).sum(0), rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_thread_determinism():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 numba threads")
    old = numba.get_num_threads()
    try:
        for cell in CELLS:
            c = _case(cell, np.float32, N=37, T=7, U=16)
            res = []
            for t in (1, 2):
                numba.set_num_threads(t)
                res.append(_run(c, chunk=K.row_chunk(37, 2)))
            for k in res[0]:
                np.testing.assert_array_equal(res[0][k], res[1][k], err_msg=k)
    finally:
        numba.set_num_threads(old)


def test_fast_float32_activations():
    """float32 arrays take the float32 rational tanh / sigmoid: within 4e-7 of the exact
    functions (float64 arrays take the exact ones, checked above at rtol 1e-10)."""
    x = np.linspace(-12, 12, 20001)
    for code in (K.TANH, K.SIGMOID):
        z = np.zeros((1, 1, x.size), np.float32)
        z[0, 0] = x
        _act(z, code)
        np.testing.assert_allclose(z[0, 0], ACT[code](x.astype(np.float32).astype(np.float64)),
                                   rtol=0, atol=4e-7)


@numba.njit(error_model="numpy", fastmath=K.FASTMATH)
def _act(z, code):
    K._act_row(z[0, 0], code, z.itemsize == 4)


def test_product_tiles():
    """The per-step products in tiles of C (rows by 32: 32, 32, 6; columns: 112 for the
    recurrent product, 16 for the backward's, both with a partial last tile): forward
    and backward against the reference at batch 70, 136 units, one chunk."""
    for cell in (K.LSTM, K.GRU):
        c = _case(cell, np.float64, N=70, T=2, U=136, F=40, seed=4)
        _check(c, _run(c, chunk=72), 1e-10, 1e-12)
    c = _case(K.LSTM, np.float32, N=70, T=2, U=136, F=40, seed=4)
    _check(c, _run(c, chunk=72), 2e-4, 2e-5)
