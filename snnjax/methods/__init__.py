"""Training methods, one module per paper or baseline.

Each method module exposes ``module_loss(model, batch, key) -> (loss, logits)``
over an NNX model (what the training loop differentiates), plus the
activation spec and conversion rule it needs.
"""

from snnjax.methods import ann, bptt, common, noise_adaptor, noise_t1
