"""videogan: adversarial video generation in JAX/Flax.

  import videogan
  generator = videogan.load_generator(WORKDIR)  # the EMA generator, with the config saved in its checkpoint
  clips = generator.sample(8)                   # uint8 [8, T, H, W, C]
"""

__version__ = "0.1.0"


def load_generator(workdir, step=None):
  """The trained generator in `workdir` (latest or `step`'s checkpoint): videogan/gan/load.py."""
  from videogan.gan import load  # Imported on use: `import videogan` stays light.

  return load.load_generator(workdir, step)
