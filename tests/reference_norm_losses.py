"""Slow, obvious NumPy references for the batch-norm and loss kernels (float64 maths).

Written independently of the kernels: two-pass statistics, explicit one-hot targets,
explicit Jacobians. Each returns (value(s), gradient) in float64.
"""
import numpy as np


# ----------------------------------------------------------------- batch norm
def bn_train(x, gamma, beta, eps, relu=False):
    """Two-pass batch statistics over axis 0 of (N, F); returns y, mean, inv_std."""
    x = np.asarray(x, np.float64)
    mean = x.sum(axis=0) / x.shape[0]
    var = ((x - mean) ** 2).sum(axis=0) / x.shape[0]
    inv_std = 1.0 / np.sqrt(var + eps)
    y = gamma * (x - mean) * inv_std + beta
    if relu:
        y = np.maximum(y, 0.0)
    return y, mean, inv_std


def bn_infer(x, moving_mean, moving_var, gamma, beta, eps, relu=False):
    x = np.asarray(x, np.float64)
    y = gamma * (x - moving_mean) / np.sqrt(np.asarray(moving_var, np.float64) + eps) + beta
    return np.maximum(y, 0.0) if relu else y


def bn_backward(dy, x, gamma, beta, eps, relu=False):
    """Backward of bn_train through the batch statistics, by the textbook chain rule
    (dxhat -> dvar -> dmean -> dx, as in the original paper). Returns dx, dgamma, dbeta."""
    x = np.asarray(x, np.float64)
    dy = np.asarray(dy, np.float64)
    n = x.shape[0]
    y, mean, inv_std = bn_train(x, gamma, beta, eps)
    if relu:
        dy = dy * (y > 0)
    xhat = (x - mean) * inv_std
    dgamma = (dy * xhat).sum(axis=0)
    dbeta = dy.sum(axis=0)
    dxhat = dy * gamma
    var = 1.0 / inv_std ** 2 - eps
    dvar = (dxhat * (x - mean)).sum(axis=0) * -0.5 * (var + eps) ** -1.5
    dmean = -(dxhat * inv_std).sum(axis=0) + dvar * (-2.0 * (x - mean)).sum(axis=0) / n
    dx = dxhat * inv_std + dvar * 2.0 * (x - mean) / n + dmean / n
    return dx, dgamma, dbeta


# ----------------------------------------------------------------- losses
def _onehot(labels, k):
    t = np.zeros((len(labels), k))
    t[np.arange(len(labels)), labels] = 1.0
    return t


def softmax_ce(logits, targets, smoothing=0.0):
    """-mean_n sum_k t_k log softmax(z)_k with t = (1-s) targets + s/K; exact gradient."""
    z = np.asarray(logits, np.float64)
    n, k = z.shape
    t = (1.0 - smoothing) * np.asarray(targets, np.float64) + smoothing / k
    zmax = z.max(axis=1, keepdims=True)
    logp = z - zmax - np.log(np.exp(z - zmax).sum(axis=1, keepdims=True))
    loss = -(t * logp).sum() / n
    grad = (np.exp(logp) * t.sum(axis=1, keepdims=True) - t) / n
    return loss, grad


def softmax_ce_sparse(logits, labels, smoothing=0.0):
    return softmax_ce(logits, _onehot(labels, np.shape(logits)[1]), smoothing)


def ce_from_probs(probs, targets, eps):
    """Keras: renormalise rows, clip, -sum t log p; gradient w.r.t. the raw probs via the
    explicit Jacobian dq_k/dp_j = (delta_kj - q_k) / S."""
    p = np.asarray(probs, np.float64)
    t = np.asarray(targets, np.float64)
    n, k = p.shape
    loss, grad = 0.0, np.zeros_like(p)
    for i in range(n):
        s = p[i].sum()
        q = p[i] / s
        r = np.clip(q, eps, 1 - eps)
        loss -= (t[i] * np.log(r)).sum()
        inside = (q >= eps) & (q <= 1 - eps)
        dq = np.where(inside, -t[i] / q, 0.0)          # dL/dq
        jac = (np.eye(k) - q[:, None]) / s              # jac[k, j] = dq_k / dp_j
        grad[i] = dq @ jac
    return loss / n, grad / n


def _mean_and_grad(values, derivs):
    return values.sum() / values.size, derivs / values.size


def bce_from_probs(p, y, eps):
    p = np.asarray(p, np.float64)
    y = np.asarray(y, np.float64)
    q = np.clip(p, eps, 1 - eps)
    vals = -(y * np.log(q) + (1 - y) * np.log(1 - q))
    der = np.where(q == p, -y / q + (1 - y) / (1 - q), 0.0)
    return _mean_and_grad(vals, der)


def bce_from_logits(z, y):
    """Through log-sigmoid written with logaddexp (stable), gradient sigmoid(z) - y."""
    z = np.asarray(z, np.float64)
    y = np.asarray(y, np.float64)
    vals = y * np.logaddexp(0.0, -z) + (1 - y) * np.logaddexp(0.0, z)
    sig = np.exp(-np.logaddexp(0.0, -z))
    return _mean_and_grad(vals, sig - y)


def mse(p, t):
    d = np.asarray(p, np.float64) - t
    return _mean_and_grad(d ** 2, 2 * d)


def mae(p, t):
    d = np.asarray(p, np.float64) - t
    return _mean_and_grad(np.abs(d), np.sign(d))


def huber(p, t, delta):
    d = np.asarray(p, np.float64) - t
    small = np.abs(d) <= delta
    vals = np.where(small, 0.5 * d ** 2, delta * np.abs(d) - 0.5 * delta ** 2)
    return _mean_and_grad(vals, np.where(small, d, delta * np.sign(d)))


def smooth_l1(p, t, beta):
    d = np.asarray(p, np.float64) - t
    if beta == 0:
        return _mean_and_grad(np.abs(d), np.sign(d))
    small = np.abs(d) < beta
    vals = np.where(small, 0.5 * d ** 2 / beta, np.abs(d) - 0.5 * beta)
    return _mean_and_grad(vals, np.where(small, d / beta, np.sign(d)))
