"""The shipped configs, one file per dataset and scale: `--config NAME` or `--config videogan/configs/NAME.py`."""
