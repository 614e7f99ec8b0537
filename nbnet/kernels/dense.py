"""Dense (and Conv2D, on its (N*OH*OW, F) view): the maths around the BLAS product.

The product itself stays in BLAS, called by the layer:

    forward   z = x @ W                np.dot(x, W, out=z)
              bias_act_forward(z, y, b, has_bias, act, alpha)
                  z += b; y = f(z)
    backward  bias_act_backward(dz, db, dy, z, y, has_bias, act, alpha)
                  dz = dy * f'(z); db = sum_n dz      (both overwritten)
              dW = x.T @ dz            np.dot(x.T, dz, out=dW)
              dx = dz @ W.T            np.dot(dz, W.T, out=dx)

Shapes: x (N, I), W (I, F), b (F,), z, y, dz, dy (N, F). `act` / `alpha` are the
activation codes of nbnet.kernels.activations.

NOTE: the two kernels are defined in kernels/activations.py, next to the scalar
activation helpers they inline: numba's cache only notices changes in the file that
defines a kernel, so a kernel and its helpers must share a file. They are re-exported
here under the names the layers use.
"""
from .activations import bias_act_backward, bias_act_forward  # noqa: F401

__all__ = ["bias_act_forward", "bias_act_backward"]
