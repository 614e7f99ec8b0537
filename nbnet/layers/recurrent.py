"""Recurrent layers (Keras 3): SimpleRNN, LSTM, GRU on input (batch, time, features).

Weights in Keras order and layout: kernel (F, G*U), recurrent_kernel (U, G*U), bias
(G*U,) (GRU reset_after: (2, 3U), input bias row 0, recurrent bias row 1); gates
LSTM i, f, c, o; GRU z, r, h. Keras 3 semantics:

- go_backwards: the input is read from the last step to the first, and the output
  sequence is returned in that (reversed) order, as Keras returns it.
- mask (batch, time), True = real step: a masked step keeps the previous state (h, c);
  the output sequence repeats the previous output there (zeros before the first real
  step), or is zero at masked steps with zero_output_for_mask=True. compute_mask
  returns the mask when return_sequences, else None.
- dropout / recurrent_dropout in training: masks per sample, the same at every time
  step, on the inputs / on the state entering the recurrent product, drawn from
  (seed, step) as Dropout does. As Keras 3: with recurrent_dropout > 0 an LSTM / GRU
  draws one input mask and one recurrent mask per gate (Keras' implementation 1: each
  gate sees its own dropped copy, one product per gate); with dropout only, one input
  mask for all gates (implementation 2); SimpleRNN one of each.
- return_state: forward returns [output, h] ([output, h, c] for the LSTM) and backward
  takes a list of the same length (None entries: zero gradient). initial_state:
  layer(x, initial_state=[h0, (c0)]), or forward([x, h0, (c0)]); backward then returns
  [dx, dh0, (dc0)].
- stateful=True: the last states of a call are the initial states of the next (every
  call: training, evaluation, prediction), held in `layer.states` (arrays, not
  weights: neither saved nor trained; no gradient flows into the previous batch).
  Every call must then have the batch size of the first one (Keras asks for it up
  front through Input(batch_size=...); here the first call fixes it), and
  `layer.reset_state()` (alias reset_states) zeros them in place; after a reset the
  next call may use another batch size. An initial_state passed to a call replaces the held
  states for that call.

The work (nbnet.kernels.rnn): per step the input projection and the product with the
recurrent kernel (small BLAS tiles) and one fused gate pass; BPTT in reverse from the
saved gates; weight gradients as one product each over all steps.
"""
import numpy as np

from .. import activations, constraints, initializers, regularizers
from .. import random as nbrandom
from ..kernels import dropout as KD
from ..kernels import rnn as K
from ..kernels.gemm import _CORES, blas_lock, cblas, matmul
from .base import Layer
from .core import _init_config
from .node import call_symbolic, is_symbolic

_NO_FNS = np.empty(0, np.int64)


def _act_code(activation, what):
    name, code, _ = activations.spec(activation)
    if code not in K.SUPPORTED:
        raise ValueError(f"recurrent layers support the {what} linear, relu, sigmoid, tanh "
                         f"and hard_sigmoid, got {name!r}")
    return name, code


def _mix(seed, step, salt):
    return (seed * 0x9E3779B97F4A7C15 + step * 0xBF58476D1CE4E5B9 + salt) % (2**63)


class RNNBase(Layer):
    """What SimpleRNN, LSTM and GRU share (subclasses set CELL and their weights)."""
    _abstract = True
    uses_mask = True
    supports_masking = True
    CELL = K.SIMPLE
    n_states = 1

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, zero_output_for_mask=False,
                 **kwargs):
        super().__init__(**kwargs)
        kind = type(self).__name__
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"{kind} units must be a positive integer, got {units!r}")
        for key, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
                raise ValueError(f"{kind} {key} must be a number in [0, 1), got {rate!r}")
        self.units = int(units)
        self._act_name, self._act = _act_code(activation, "activation")
        self._ract_name, self._ract = _act_code(recurrent_activation, "recurrent_activation")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        for init in (kernel_initializer, recurrent_initializer, bias_initializer):
            initializers.get(init)  # fail early on an unknown name
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout, self.recurrent_dropout = float(dropout), float(recurrent_dropout)
        # NOTE: as Dropout, an unseeded layer draws its seed once and keeps it in its config.
        self.seed = int(nbrandom.generator().integers(2**62)) if seed is None else int(seed)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.states = None           # stateful: [h, (c)] of the last call, (batch, units)
        self._states_zeroed = False
        self.unroll = bool(unroll)   # accepted, ignored: the loop is compiled anyway
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.kernel = self.recurrent_kernel = self.bias = None
        self._calls = 0
        self._fw = None

    # ---------------------------------------------------------------- shapes
    @staticmethod
    def _x_shape(input_shape):
        if isinstance(input_shape, list):
            return tuple(input_shape[0])
        return tuple(input_shape)

    def _maybe_build(self, input_shape):
        if not self.built:
            shape = (None,) + self._x_shape(input_shape)[1:]
            self.input_shape = shape
            self.build(shape)
            self.built = True
            self.output_shape = self.compute_output_shape(shape)

    def build(self, input_shape):
        shape = self._x_shape(input_shape)
        if len(shape) != 3 or shape[-1] is None:
            raise ValueError(f"{self.name}: expected input (batch, time, features) with known "
                             f"features, got shape {shape}")
        F, U, G = int(shape[-1]), self.units, K.GATES[self.CELL]
        self.kernel = self.add_weight("kernel", (F, G * U), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (U, G * U),
                                                self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", self._bias_shape(), self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
            self._init_bias()
        self._zeros = np.zeros(G * U, self.dtype)
        self.built = True

    def _bias_shape(self):
        return (K.GATES[self.CELL] * self.units,)

    def _init_bias(self):
        pass

    def compute_output_shape(self, input_shape):
        shape = self._x_shape(input_shape)
        N, T = shape[0], shape[1]
        out = (N, T, self.units) if self.return_sequences else (N, self.units)
        if self.return_state:
            return [out] + [(N, self.units)] * self.n_states
        return out

    def compute_mask(self, x, mask):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        out = mask if self.return_sequences else None
        if self.return_state:
            return [out] + [None] * self.n_states
        return out

    # ---------------------------------------------------------------- calls
    def __call__(self, x, training=False, mask=None, initial_state=None):
        """layer(x, training, mask, initial_state=[h0, (c0)]) on arrays or symbolic tensors."""
        if initial_state is not None and not isinstance(initial_state, (list, tuple)):
            initial_state = [initial_state]
        states = list(initial_state) if initial_state is not None else []
        if is_symbolic(x) or (states and is_symbolic(states)):
            return call_symbolic(self, [x] + states if states else x, bool(states))
        x = np.ascontiguousarray(x, dtype=self.dtype)
        self._maybe_build(x.shape)
        if mask is not None:
            mask = np.ascontiguousarray(mask, dtype=bool)
            if mask.shape != x.shape[:2]:
                raise ValueError(f"layer {self.name!r}: the mask must have shape "
                                 f"{x.shape[:2]} (batch, time), got {mask.shape}")
        out = self.forward([x] + states if states else x, training=training, mask=mask)
        if isinstance(out, list):
            return [np.array(o, copy=True) for o in out]
        return np.array(out, copy=True)

    def _split_inputs(self, x):
        if not isinstance(x, (list, tuple)):
            return x, None
        x, states = x[0], list(x[1:])
        if len(states) != self.n_states:
            raise ValueError(f"{self.name}: initial_state needs {self.n_states} array(s), "
                             f"got {len(states)}")
        return x, states

    def forward(self, x, training=False, mask=None, step=None):
        x, states = self._split_inputs(x)
        x = np.ascontiguousarray(x, dtype=self.dtype)
        if x.ndim != 3:
            raise ValueError(f"{self.name}: expected input (batch, time, features), got "
                             f"shape {x.shape}")
        N, T, F = x.shape
        U, cell = self.units, self.CELL
        GU = K.GATES[cell] * U
        W, R = self.kernel.value, self.recurrent_kernel.value
        if F != W.shape[0]:
            raise ValueError(f"{self.name}: expected {W.shape[0]} input features, got "
                             f"input of shape {x.shape}")
        if T < 1:
            raise ValueError(f"{self.name}: the input has no time steps")
        e2, e3 = self.buffer("e2", (0, 0)), self.buffer("e3", (0, 0, 0))
        # dropout masks: one per sample, for all steps (from (seed, step))
        drop = training and self.dropout > 0
        rdrop = training and self.recurrent_dropout > 0
        if drop or rdrop:
            step = self._calls if step is None else step
            self._calls += 1
        dmask, rmask = e2, e2
        groups = self._mask_groups()
        if drop:
            dmask = self.buffer("dmask", (N, groups * F))
            ones = self.buffer("ones_f", (N * groups * F,))
            ones[:] = 1
            KD.dropout_forward(dmask.reshape(-1), dmask.reshape(-1), ones, self.dropout,
                               _mix(self.seed, step, 1))
        if rdrop:
            rmask = self.buffer("rmask", (N, groups * U))
            ones = self.buffer("ones_u", (N * groups * U,))
            ones[:] = 1
            KD.dropout_forward(rmask.reshape(-1), rmask.reshape(-1), ones,
                               self.recurrent_dropout, _mix(self.seed, step, 2))
        # step masks in processing order
        has_mask = mask is not None
        mk, om = self.buffer("mkb", (0, 0), np.bool_), e2
        if has_mask:
            mask = np.ascontiguousarray(mask, dtype=bool)
            if mask.shape != (N, T):
                raise ValueError(f"{self.name}: the mask must have shape {(N, T)}, got "
                                 f"{mask.shape}")
            mk = self.buffer("mk", (T, N), np.bool_)
            om = self.buffer("om", (T, N))
            K.step_masks(mk, om, mask, self.go_backwards, self.zero_output_for_mask)
        # input projection of all steps: one product
        xt = self.buffer("xt", (T, N, dmask.shape[1] if drop else F))
        K.to_time_major(xt, x, dmask, drop, self.go_backwards)
        Z = self.buffer("Z", (T, N, GU))  # the input projection, then the gates
        Hs = self.buffer("Hs", (T + 1, N, U))
        Cs = self.buffer("Cs", (T + 1, N, U)) if cell == K.LSTM else e3
        TC = self.buffer("TC", (T, N, U)) if cell == K.LSTM else e3
        AH = self.buffer("AH", (T, N, U)) if cell in (K.GRU, K.GRU1) else e3
        Hd = self.buffer("Hd", (T, N, rmask.shape[1])) if rdrop else e3
        carried = self.stateful and states is None and self.states is not None
        if carried and self._states_zeroed and self.states[0].shape[0] != N:
            carried = False    # reset_state() was called: any batch size may start
        if carried:
            if self.states[0].shape[0] != N:
                raise ValueError(
                    f"{self.name}: stateful=True holds the states of a batch of "
                    f"{self.states[0].shape[0]} sequences, got a batch of {N}; use the same "
                    f"batch size in every call (fit / evaluate / predict batch_size, a "
                    f"sample count that it divides) or call reset_state() first")
            states = self.states
        if states is None:
            Hs[0] = 0
            if cell == K.LSTM:
                Cs[0] = 0
        else:
            for k, (buf, s) in enumerate(zip((Hs, Cs), states)):
                s = np.asarray(s)
                if s.shape != (N, U):
                    raise ValueError(f"{self.name}: initial state {k} must have shape "
                                     f"{(N, U)}, got {s.shape}")
                buf[0] = s
        seq = self.return_sequences
        y = self.buffer("y", (N, T, U) if seq else (N, 1, U))
        chunk = K.row_chunk(N, _CORES)
        S = self.buffer("S", ((N + chunk - 1) // chunk, chunk, GU))
        b0, b1 = self._zeros, self._zeros
        if self.use_bias:
            b = self.bias.value
            b0, b1 = (b[0], b[1]) if b.ndim == 2 else (b, self._zeros)
        fns, ilp64 = cblas() or (_NO_FNS, False)
        with blas_lock:
            K.rnn_forward(y, Z, Hs, Cs, TC, AH, Hd, S, xt, W, R, b0, b1, mk, om, rmask, cell,
                          self._act, self._ract, has_mask, rdrop, seq, chunk, fns, ilp64)
        self._fw = dict(x_shape=x.shape, xt=xt, Z=Z, Hs=Hs, Cs=Cs, TC=TC, AH=AH, Hd=Hd,
                        mk=mk, om=om, dmask=dmask, rmask=rmask, drop=drop, rdrop=rdrop,
                        has_mask=has_mask, chunk=chunk,
                        states=states is not None and not carried)
        if self.stateful:  # the next call starts from this one's last states
            last = [Hs[T]] + ([Cs[T]] if cell == K.LSTM else [])
            if self.states is None or self.states[0].shape != (N, U):
                self.states = [np.array(a, copy=True) for a in last]
            else:
                for held, a in zip(self.states, last):
                    held[...] = a
            self._states_zeroed = False
        out = y if seq else y.reshape(N, U)
        if self.return_state:
            return [out, Hs[T]] + ([Cs[T]] if cell == K.LSTM else [])
        return out

    def backward(self, dy, need_dx=True):
        fw = self._fw
        N, T, F = fw["x_shape"]
        U, cell = self.units, self.CELL
        GU = K.GATES[cell] * U
        dt = self.dtype
        e2, e3 = self.buffer("e2", (0, 0)), self.buffer("e3", (0, 0, 0))
        dys = list(dy) if self.return_state else [dy]
        if len(dys) != 1 + (self.n_states if self.return_state else 0):
            raise ValueError(f"{self.name}: backward takes {1 + self.n_states} gradients "
                             f"(output and states), got {len(dys)}")
        dout = dys[0]
        dHc = self.buffer("dHc", (N, U))
        dC = self.buffer("dC", (N, U)) if cell == K.LSTM else e2
        dHc[:] = 0
        if cell == K.LSTM:
            dC[:] = 0
        seq = self.return_sequences
        dyseq = e3
        if dout is not None:
            dout = np.ascontiguousarray(dout, dtype=dt)
            if seq:
                dyseq = dout.reshape(N, T, U)
            elif fw["has_mask"]:
                np.multiply(dout.reshape(N, U), fw["om"][T - 1][:, None], out=dHc)
            else:
                dHc[:] = dout.reshape(N, U)
        if self.return_state:
            if dys[1] is not None:
                dHc += np.asarray(dys[1], dtype=dt).reshape(N, U)
            if cell == K.LSTM and dys[2] is not None:
                dC += np.asarray(dys[2], dtype=dt).reshape(N, U)
        if seq and dout is None:  # no gradient for the sequence: pass zeros
            dyseq = self.buffer("dy0", (N, T, U))
            dyseq[:] = 0
        dZ = self.buffer("dZ", (T, N, GU))
        dZh = self.buffer("dZh", (T, N, GU)) if cell == K.GRU else dZ
        chunk = fw["chunk"]
        S = self.buffer("Sb", ((N + chunk - 1) // chunk, chunk, 2 * U if cell == K.GRU1 else U))
        fns, ilp64 = cblas() or (_NO_FNS, False)
        RT = self.buffer("RT", (GU, U))
        RT[:] = self.recurrent_kernel.value.T
        with blas_lock:
            K.rnn_backward(dZ, dZh, dHc, dC, S, dyseq, fw["Z"], fw["Hs"], fw["Cs"], fw["TC"],
                           fw["AH"], fw["Hd"], RT, fw["mk"], fw["om"], fw["rmask"], cell, self._act,
                           self._ract, fw["has_mask"], fw["rdrop"], seq, chunk, fns, ilp64)
        dZ2, dZh2 = dZ.reshape(T * N, GU), dZh.reshape(T * N, GU)
        xt = fw["xt"].reshape(T * N, -1)
        gx = xt.shape[1] // F                      # input mask groups: 1 or G
        Hp = (fw["Hd"] if fw["rdrop"] else fw["Hs"][:T]).reshape(T * N, -1)
        gh = Hp.shape[1] // U                      # recurrent mask groups: 1 or G
        if self.trainable:
            if gx == 1:
                matmul(self.kernel.grad, xt.T, dZ2)   # dW = xt^T dZ
            else:                                     # dW_g = xt_g^T dZ_g
                self._per_gate_products(self.kernel.grad, [xt] * (GU // U), dZ2, F)
            if cell == K.GRU1:  # dR_zr = Hp'^T dZ_zr, dR_h = (r * Hp')^T dZ_h
                hs = [Hp[:, g * U:(g + 1) * U] if gh > 1 else Hp for g in range(2)]
                hs.append(fw["AH"].reshape(T * N, U))
                self._per_gate_products(self.recurrent_kernel.grad, hs, dZh2, U, sliced=False)
            elif gh == 1:
                matmul(self.recurrent_kernel.grad, Hp.T, dZh2)  # dR
            else:                                                 # dR_g = Hp'_g^T dZh_g
                self._per_gate_products(self.recurrent_kernel.grad, [Hp] * (GU // U), dZh2, U)
            if self.use_bias:  # db = column sums of dZ, as a product ones (1, T*N) @ dZ
                g = self.bias.grad.reshape(-1, GU)
                ones = self.buffer("ones_tn", (1, T * N))
                ones[:] = 1
                matmul(g[:1], ones, dZ2)
                if g.shape[0] == 2:
                    matmul(g[1:], ones, dZh2)
        dx = None
        if need_dx:
            dxt = self.buffer("dxt", (T, N, gx * F))
            if gx == 1:
                matmul(dxt.reshape(T * N, F), dZ2, self.kernel.value.T)
            else:   # dxt_g = dZ_g @ W_g^T, summed with the masks by from_time_major
                d2 = dxt.reshape(T * N, gx * F)
                for g in range(gx):
                    wg = self.buffer("w_g", (F, U))
                    wg[:] = self.kernel.value[:, g * U:(g + 1) * U]
                    dz = self.buffer("dz_g", (T * N, U))
                    dz[:] = dZ2[:, g * U:(g + 1) * U]
                    out = self.buffer("dx_g", (T * N, F))
                    matmul(out, dz, wg.T)
                    d2[:, g * F:(g + 1) * F] = out
            dx = self.buffer("dx", (N, T, F))
            K.from_time_major(dx, dxt, fw["dmask"], fw["drop"], self.go_backwards)
        if fw["states"]:
            return [dx, dHc] + ([dC] if cell == K.LSTM else [])
        return dx

    def _mask_groups(self):
        """Dropout masks per sample: G (one per gate, Keras' implementation 1, used by
        Keras 3 whenever recurrent_dropout > 0 on an LSTM / GRU), else 1."""
        if self.CELL != K.SIMPLE and self.recurrent_dropout > 0:
            return K.GATES[self.CELL]
        return 1

    def _per_gate_products(self, grad, lefts, right, width, sliced=True):
        """grad[:, gU:(g+1)U] = lefts[g]_g^T @ right[:, gU:(g+1)U] for each gate g, with
        lefts[g]_g its g-th block of `width` columns when sliced (else all of it);
        contiguous copies in between, for matmul (bitwise at any thread count)."""
        U = self.units
        for g, left in enumerate(lefts):
            a = self.buffer("pg_a", (left.shape[0], width))
            a[:] = left[:, g * width:(g + 1) * width] if sliced and left.shape[1] > width \
                else left
            b = self.buffer("pg_b", (right.shape[0], U))
            b[:] = right[:, g * U:(g + 1) * U]
            out = self.buffer("pg_out", (width, U))
            matmul(out, a.T, b)
            grad[:, g * U:(g + 1) * U] = out

    def reset_state(self):
        """stateful=True: zero the held states in place (the next call starts from zeros,
        and may use another batch size)."""
        if self.states is not None:
            for a in self.states:
                a[...] = 0
            self._states_zeroed = True

    reset_states = reset_state   # Keras' alias

    def flops(self, input_shape):
        shape = self._x_shape(input_shape)
        if shape[1] is None:   # sequences of any length: unknown per sample
            return 0
        T, F = int(shape[1]), int(shape[2])
        GU = K.GATES[self.CELL] * self.units
        return T * (2 * F * GU + 2 * self.units * GU + 4 * GU)

    # ---------------------------------------------------------------- config
    def get_config(self):
        cfg = super().get_config()
        cfg.update(units=self.units, activation=self._act_name)
        if self.CELL != K.SIMPLE:
            cfg["recurrent_activation"] = self._ract_name
        cfg.update(use_bias=self.use_bias,
                   kernel_initializer=_init_config(self.kernel_initializer),
                   recurrent_initializer=_init_config(self.recurrent_initializer),
                   bias_initializer=_init_config(self.bias_initializer))
        for key in ("kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
                    "activity_regularizer"):
            if getattr(self, key) is not None:
                cfg[key] = regularizers.serialize(getattr(self, key))
        for key in ("kernel_constraint", "recurrent_constraint", "bias_constraint"):
            if getattr(self, key) is not None:
                cfg[key] = constraints.serialize(getattr(self, key))
        cfg.update(dropout=self.dropout, recurrent_dropout=self.recurrent_dropout,
                   seed=self.seed, return_sequences=self.return_sequences,
                   return_state=self.return_state, go_backwards=self.go_backwards,
                   stateful=self.stateful, unroll=self.unroll,
                   zero_output_for_mask=self.zero_output_for_mask)
        return cfg


class SimpleRNN(RNNBase):
    """h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)."""
    CELL = K.SIMPLE

    def __init__(self, units, activation="tanh", **kwargs):
        if "recurrent_activation" in kwargs:
            raise TypeError("SimpleRNN got unexpected argument(s) recurrent_activation")
        super().__init__(units, activation=activation, **kwargs)


class LSTM(RNNBase):
    """Long short-term memory (Hochreiter 1997), Keras 3 gates i, f, c, o."""
    CELL = K.LSTM
    n_states = 2

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _init_bias(self):
        if self.unit_forget_bias:  # Keras: bias_initializer for i, ones for f, then c, o
            U, init = self.units, initializers.get(self.bias_initializer)
            self.bias.value[:U] = init((U,), self.dtype)
            self.bias.value[U:2 * U] = 1
            self.bias.value[2 * U:] = init((2 * U,), self.dtype)

    def get_config(self):
        cfg = super().get_config()
        cfg["unit_forget_bias"] = self.unit_forget_bias
        return cfg


class GRU(RNNBase):
    """Gated recurrent unit (Cho 2014), gates z, r, h: h_t = z * h_{t-1} + (1 - z) * hh.
    reset_after=True (Keras 3's default, = torch.nn.GRU): hh = act(x W_h + b_h +
    r * (h_{t-1} R_h + b'_h)), bias (2, 3U) (input, recurrent). reset_after=False (the
    original form, Keras 2's first default): hh = act(x W_h + (r * h_{t-1}) R_h + b_h),
    one bias (3U,)."""
    CELL = K.GRU

    def __init__(self, units, reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)
        if not self.reset_after:
            self.CELL = K.GRU1

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def get_config(self):
        cfg = super().get_config()
        cfg["reset_after"] = self.reset_after
        return cfg
