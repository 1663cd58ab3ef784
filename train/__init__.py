"""The snnjax training program: ``python -m train --config train/configs/<name>.py``."""
