"""The training program folder: ``python -m train --config noise_t1`` (same as ``python -m snnjax.train``)."""
