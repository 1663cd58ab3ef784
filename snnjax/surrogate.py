"""Heaviside spike function with a chosen surrogate gradient.

The forward pass is the exact step function ``H(x)`` (``H(0) = 1``, i.e. a
neuron fires at ``u ≥ θ``; ``strict=True`` gives ``u > θ`` as in SNN2ANN).
The backward pass replaces ``δ(x)`` by the derivative of a smooth function
chosen by name (``"sigmoid"``) or by a :class:`Surrogate` object that carries
its width parameter. Implemented with :func:`jax.custom_jvp`, so it works under
``jit``, ``vmap``, ``grad`` and forward-mode AD, in float32 and bfloat16.

References:
  [Neftci, Mostafa & Zenke, 2019](https://arxiv.org/abs/1901.09948), IEEE Signal Processing
  Magazine (surrogate gradients); [Xiao et al., 2022](https://arxiv.org/abs/2210.04195) (sigmoid
  α=4, used by OTTT, SAF and the BPTT baseline); [Bu et al., 2022](https://arxiv.org/abs/2303.04347)
  (triangle "ZIF" γ=1 in QCFS's code); [Zenke & Ganguli, 2018](https://arxiv.org/abs/1705.11146)
  (SuperSpike, the fast sigmoid).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

__all__ = ["Surrogate", "SURROGATES", "get_surrogate", "spike", "derivative", "primitive"]


def _sigmoid(x, a):
  sg = jax.nn.sigmoid(a * x)
  return a * sg * (1 - sg)


def _atan(x, a):
  # d/dx [arctan(π/2·a·x)/π + 1/2]  (SpikingJelly's ATan, α=2 default)
  return (a / 2) / (1 + (math.pi / 2 * a * x) ** 2)


def _triangle(x, a):
  # QCFS "ZIF": max(γ − |x|, 0) / γ²
  return jnp.maximum(a - jnp.abs(x), 0) / (a * a)


def _rectangle(x, a):
  # 1/a on |x| < a/2: unit area box of width a
  return jnp.where(jnp.abs(x) < a / 2, 1 / a, 0).astype(x.dtype)


def _fast_sigmoid(x, a):
  # SuperSpike (Zenke & Ganguli 2018): 1 / (1 + a|x|)²
  return 1 / (1 + a * jnp.abs(x)) ** 2


def _erf(x, a):
  # d/dx [ (1 + erf(a·x)) / 2 ] = a/√π · exp(−a²x²)
  return a / math.sqrt(math.pi) * jnp.exp(-((a * x) ** 2))


def _straight_through(x, a):
  del a
  return jnp.ones_like(x)


_DERIVATIVES: dict[str, tuple[Callable, float]] = {
    "sigmoid": (_sigmoid, 4.0),
    "atan": (_atan, 2.0),
    "triangle": (_triangle, 1.0),
    "rectangle": (_rectangle, 1.0),
    "fast_sigmoid": (_fast_sigmoid, 25.0),
    "erf": (_erf, 2.0),
    "straight_through": (_straight_through, 1.0),
}
SURROGATES = tuple(_DERIVATIVES)
_ALIASES = {"zif": "triangle", "superspike": "fast_sigmoid", "ste": "straight_through",
            "rect": "rectangle"}


@jax.tree_util.register_static
@dataclasses.dataclass(frozen=True)
class Surrogate:
  """A surrogate gradient: its name and width parameter ``alpha``.

  Hashable and a static pytree node, so it can sit inside parameter
  NamedTuples and be passed to jitted functions.
  """

  name: str = "sigmoid"
  alpha: float | None = None

  def __post_init__(self):
    name = _ALIASES.get(self.name.lower(), self.name.lower())
    if name not in _DERIVATIVES:
      raise ValueError(
          f"unknown surrogate {self.name!r}; choose one of {list(SURROGATES)} "
          f"(aliases {sorted(_ALIASES)}).")
    object.__setattr__(self, "name", name)
    alpha = _DERIVATIVES[name][1] if self.alpha is None else float(self.alpha)
    if not alpha > 0:
      raise ValueError(f"surrogate width alpha must be > 0, got {alpha}.")
    object.__setattr__(self, "alpha", alpha)

  def derivative(self, x: Array) -> Array:
    """The surrogate ``∂H/∂x`` evaluated at ``x`` (in ``x``'s dtype)."""
    return _DERIVATIVES[self.name][0](x, jnp.asarray(self.alpha, x.dtype)).astype(x.dtype)


def get_surrogate(s: str | Surrogate | None, alpha: float | None = None) -> Surrogate:
  """Resolve a name, a :class:`Surrogate` or ``None`` (sigmoid α=4)."""
  if isinstance(s, Surrogate):
    return s if alpha is None else Surrogate(s.name, alpha)
  if s is None:
    return Surrogate("sigmoid", alpha)
  if isinstance(s, str):
    return Surrogate(s, alpha)
  raise ValueError(f"surrogate must be a name or a Surrogate, got {type(s).__name__}.")


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def _spike(x, surrogate: Surrogate, strict: bool):
  h = x > 0 if strict else x >= 0
  return h.astype(x.dtype)


@_spike.defjvp
def _spike_jvp(surrogate, strict, primals, tangents):
  (x,), (dx,) = primals, tangents
  return _spike(x, surrogate, strict), surrogate.derivative(x) * dx


def spike(x: Float[Array, "*shape"], surrogate: str | Surrogate | None = None,
          *, strict: bool = False) -> Float[Array, "*shape"]:
  """Heaviside step of ``x = u − θ`` with a surrogate gradient.

  Args:
    x: membrane potential minus threshold, any float dtype.
    surrogate: name from :data:`SURROGATES` or a :class:`Surrogate`.
    strict: fire at ``x > 0`` instead of ``x ≥ 0``.

  Returns:
    0/1 spikes in ``x``'s dtype; gradient ``surrogate.derivative(x)``.

  References:
    [Neftci et al., 2019](https://arxiv.org/abs/1901.09948), §III.
  """
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise ValueError(f"spike expects a floating-point input, got dtype {x.dtype}; "
                     "cast with x.astype(jnp.float32).")
  return _spike(x, get_surrogate(surrogate), bool(strict))


def derivative(x: Array, surrogate: str | Surrogate | None = None) -> Array:
  """The surrogate derivative alone (for plots and tests)."""
  return get_surrogate(surrogate).derivative(x)


_PRIMITIVES: dict[str, Callable] = {
    "sigmoid": lambda x, a: jax.nn.sigmoid(a * x),
    "atan": lambda x, a: jnp.arctan(math.pi / 2 * a * x) / math.pi + 0.5,
    "triangle": lambda x, a: jnp.where(x < -a, 0.0, jnp.where(x > a, 1.0, jnp.where(
        x < 0, (x + a) ** 2 / (2 * a * a), 1 - (a - x) ** 2 / (2 * a * a)))),
    "rectangle": lambda x, a: jnp.clip(x / a + 0.5, 0, 1),
    "fast_sigmoid": lambda x, a: x / (1 + a * jnp.abs(x)) + 0.5,
    "erf": lambda x, a: (1 + jax.scipy.special.erf(a * x)) / 2,
    "straight_through": lambda x, a: x + 0.5,
}


def primitive(x: Float[Array, "*shape"], surrogate: str | Surrogate | None = None) -> Float[Array, "*shape"]:
  """The smooth function ``g`` whose derivative is the surrogate gradient (``g' = derivative``).

  What SpikingJelly's surrogates compute with ``spiking=False``: a soft step
  around 0 (``g(0) = ½``). How the widths ``α`` map to SpikingJelly's and
  snnTorch's arguments is tabulated in ``docs/peers.md`` (e.g. snnjax
  ``triangle(α)`` = SpikingJelly ``PiecewiseQuadratic(alpha=1/α)``).
  """
  s = get_surrogate(surrogate)
  return _PRIMITIVES[s.name](x, jnp.asarray(s.alpha, x.dtype)).astype(x.dtype)
