"""BatchNormalization (Keras 3 semantics) over the last axis: per feature for (N, F),
per channel for NHWC (N, H, W, C), which the kernels see as (N*H*W, C).

Training (training=True and layer.trainable):
    y = gamma * (x - mean_B) / sqrt(var_B + eps) + beta     (biased batch variance)
    moving = momentum * moving + (1 - momentum) * batch statistic
Inference (training=False, or layer.trainable is False as in Keras 3):
    y = gamma * (x - moving_mean) / sqrt(moving_variance + eps) + beta
"""
import numpy as np

from .. import initializers
from ..errors import DataError
from ..kernels import norm as K
from .base import Layer

# NOTE: the row-chunked "tall" kernels are used for every input. Measured on 2 cores
# (float32, forward + backward): they beat the feature-block "_2d" kernels 2-4x on
# every shape tried, (16, 512) to (1024, 512), (32, 8192) and (100352, 32), at 1 and 2
# threads: they stream whole rows. The choice depends on nothing (not the thread
# count), so results stay reproducible.


class BatchNormalization(Layer):
    supports_masking = True   # passes a mask on (Keras 3)
    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axis, int):
            raise ValueError(f"BatchNormalization supports one integer axis, got {axis!r}")
        self.axis = axis
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        if self.epsilon <= 0:
            raise ValueError(f"epsilon must be > 0, got {epsilon!r}")
        self.center = bool(center)
        self.scale = bool(scale)
        self._inits = {"beta_initializer": beta_initializer,
                       "gamma_initializer": gamma_initializer,
                       "moving_mean_initializer": moving_mean_initializer,
                       "moving_variance_initializer": moving_variance_initializer}
        for v in self._inits.values():
            initializers.get(v)  # fail early on an unknown name
        self.gamma = self.beta = None
        self._relu = False     # whether the last forward applied a ReLU (relu=True)

    # ---------------------------------------------------------------- build
    def build(self, input_shape):
        ndim = len(input_shape)
        if self.axis not in (-1, ndim - 1):
            raise ValueError(f"{self.name}: only the last axis (channels last) is supported, "
                             f"got axis={self.axis} for input shape {tuple(input_shape)}")
        c = input_shape[-1]
        if c is None:
            raise ValueError(f"{self.name}: the last axis of the input must be known")
        c = int(c)
        if self.scale:
            self.gamma = self.add_weight("gamma", (c,), self._inits["gamma_initializer"])
        if self.center:
            self.beta = self.add_weight("beta", (c,), self._inits["beta_initializer"])
        self.moving_mean = self.add_weight("moving_mean", (c,),
                                           self._inits["moving_mean_initializer"], trainable=False)
        self.moving_variance = self.add_weight("moving_variance", (c,),
                                               self._inits["moving_variance_initializer"],
                                               trainable=False)
        self._ones = np.ones(c, self.dtype)
        self._zeros = np.zeros(c, self.dtype)
        self.built = True

    def _gamma_beta(self):
        gamma = self.gamma.value if self.scale else self._ones
        beta = self.beta.value if self.center else self._zeros
        return gamma, beta

    # ---------------------------------------------------------------- forward
    def forward(self, x, training=False, relu=False, comm=None):
        """relu=True: y = max(bn(x), 0) in the same pass (the model's batchnorm_relu unit);
        comm (a distributed fit's communicator): batch statistics over all ranks."""
        c = self.moving_mean.shape[0]
        if x.shape[-1] != c:
            raise DataError(f"{self.name}: expected {c} features on the last axis, got input "
                            f"of shape {x.shape}")
        x2 = np.ascontiguousarray(x).reshape(-1, c)
        m = x2.shape[0]
        y = self.buffer("y", x.shape)
        y2 = y.reshape(m, c)
        gamma, beta = self._gamma_beta()
        mean = self.buffer("mean", (c,), np.float64)
        inv_std = self.buffer("inv_std", (c,), np.float64)
        relu = self._relu = bool(relu)
        self._train_mode = bool(training) and self.trainable
        if self._train_mode and comm is not None:
            self._n_global = _bn_forward_global(comm, y2, mean, inv_std, x2, gamma, beta,
                                                self.epsilon, relu)
        elif self._train_mode:
            if m < 2:
                raise DataError(f"{self.name}: BatchNormalization cannot train on one value "
                                f"per channel (input shape {x.shape}); use a batch size of "
                                f"at least 2, or call it with training=False")
            K.batchnorm_forward_train_tall(y2, mean, inv_std, x2, gamma, beta, self.epsilon, relu)
        if self._train_mode:
            # moving = momentum * moving + (1 - momentum) * batch (biased variance,
            # recovered exactly enough in float64 from inv_std = 1/sqrt(var + eps))
            K.batchnorm_update_moving(self.moving_mean.value, self.moving_variance.value, mean,
                                      inv_std, float(self.momentum), float(self.epsilon))
        else:
            mm, mv = self.moving_mean.value, self.moving_variance.value
            K.batchnorm_forward_infer(y2, x2, mm, mv, gamma, beta, self.epsilon, relu)
            mean[...] = mm
            inv_std[...] = 1.0 / np.sqrt(mv.astype(np.float64) + self.epsilon)
        self._x2, self._mean, self._inv_std, self._shape = x2, mean, inv_std, x.shape
        return y

    # ---------------------------------------------------------------- backward
    def backward(self, dy, need_dx=True, comm=None):
        """comm: the communicator the forward had (a distributed fit), else None."""
        x2, mean, inv_std = self._x2, self._mean, self._inv_std
        m, c = x2.shape
        dy2 = np.ascontiguousarray(dy, dtype=self.dtype).reshape(m, c)
        gamma, beta = self._gamma_beta()
        relu = self._relu
        dx = self.buffer("dx", self._shape)
        dx2 = dx.reshape(m, c)
        if self._train_mode:
            dgamma = self.gamma.grad if self.scale else self.buffer("dgamma", (c,))
            dbeta = self.beta.grad if self.center else self.buffer("dbeta", (c,))
            if comm is not None:
                _bn_backward_global(comm, self._n_global, dx2, dgamma, dbeta, dy2, x2, mean,
                                    inv_std, gamma, beta, relu)
            else:
                K.batchnorm_backward_tall(dx2, dgamma, dbeta, dy2, x2, mean, inv_std, gamma,
                                          beta, relu)
        else:
            # fixed statistics: an affine map, dx = dy * gamma * inv_std
            K.batchnorm_backward_infer(dx2, dy2, x2, mean, inv_std, gamma, beta, relu)
            if self.trainable and (self.scale or self.center):
                # rare (backward after a training=False forward): plain NumPy
                g = dy2.astype(np.float64)
                xhat = (x2 - mean) * inv_std
                if relu:
                    g = g * (gamma * xhat + beta > 0)
                if self.scale:
                    self.gamma.grad[...] = np.sum(g * xhat, axis=0)
                if self.center:
                    self.beta.grad[...] = np.sum(g, axis=0)
        return dx if need_dx else None

    # ---------------------------------------------------------------- misc
    def flops(self, input_shape):
        # per element: subtract mean, scale, shift (+ the statistics' add/multiply-add)
        return 4 * int(np.prod(input_shape[1:]))

    def get_config(self):
        cfg = super().get_config()
        cfg.update(axis=self.axis, momentum=self.momentum, epsilon=self.epsilon,
                   center=self.center, scale=self.scale,
                   **{k: v if isinstance(v, dict) else initializers.serialize(v)
                      for k, v in self._inits.items()})
        return cfg


# ------------------------------------------------------------------ over all ranks
# A distributed fit passes the communicator (nbnet.distributed); these need only its
# allreduce_, so the layer does not depend on the distributed module.
def _bn_forward_global(comm, y2, mean, inv_std, x2, gamma, beta, eps, relu):
    """Batch statistics over the rows of all ranks (float64, two passes around the
    global mean), then normalise the local rows: y = gamma * (x - mean) * inv_std + beta
    (max(., 0) if relu)."""
    c = x2.shape[1]
    buf = np.empty(c + 1)
    K.bn_local_sums(buf[:c], x2, np.zeros(c), False)
    buf[c] = x2.shape[0]
    comm.allreduce_(buf)
    n = buf[c]
    mean[...] = buf[:c] / n
    sq = np.empty(c)
    K.bn_local_sums(sq, x2, mean, True)
    var = comm.allreduce_(sq) / n
    inv_std[...] = 1.0 / np.sqrt(var + eps)
    K.bn_normalize(y2, x2, mean, inv_std, gamma, beta, relu)
    return n


def _bn_backward_global(comm, n, dx2, dgamma, dbeta, dy2, x2, mean, inv_std, gamma, beta, relu):
    """dx of the global-batch formula for the local rows; dgamma / dbeta are the LOCAL
    sums (the gradient Allreduce adds them up)."""
    c = x2.shape[1]
    local = np.empty(2 * c)
    K.bn_local_grad_sums(local, dy2, x2, mean, inv_std, gamma, beta, relu)
    dbeta[...] = local[:c]
    dgamma[...] = local[c:]
    tot = comm.allreduce_(local.copy())
    K.bn_grad_input(dx2, dy2, x2, mean, inv_std, gamma, beta, relu, tot, float(n))
