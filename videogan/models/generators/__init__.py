"""Generator families, chosen by `config.model.generator.name` and built from that block alone.

  gru       MoCoGAN-style: a GRU's motion vector per frame, each frame decoded by (2+1)D convs (gru.py)
  conv_gru  DVD-GAN-style: a ConvGRU's 8 px map per frame, decoded by (2+1)D convs (conv_gru.py)
  style     StyleGAN-V-style: per-frame 2-D synthesis modulated by a content style and smooth motion codes (style.py)
  sprites   a layered scene: sprites decoded once per clip and moved by a GRU (sprites.py)

Each family's `default_config()` lists its options and defaults, and nothing
else: a block holds only what its family uses (the one place model defaults
live). To switch family in a config file:

  config.model.generator = generators.default_config("sprites", like=config.model.generator, num_sprites=3)
"""

import ml_collections

from videogan.models.generators import conv_gru, gru, sprites, style
from videogan.models.generators.common import GeneratorBase, sample_latents

FAMILIES = {"gru": (gru.default_config, gru.GruGenerator),
            "conv_gru": (conv_gru.default_config, conv_gru.ConvGruGenerator),
            "sprites": (sprites.default_config, sprites.SpriteGenerator),
            "style": (style.default_config, style.StyleGenerator)}
LATENT_KEYS = ("content_dim", "motion_noise_dim")  # Sizes of the noise G is fed; not module fields.

__all__ = ["FAMILIES", "GeneratorBase", "build", "default_config", "sample_latents"]


def default_config(name: str, like: ml_collections.ConfigDict | None = None, **overrides) -> ml_collections.ConfigDict:
  """Family `name`'s block with its defaults; the options it shares with the block `like` are copied, then `overrides`."""
  if name not in FAMILIES:
    raise ValueError(f"unknown generator {name!r}; expected one of {tuple(FAMILIES)}")
  block = FAMILIES[name][0]()
  for key in (like or {}):
    if key in block and key != "name":
      block[key] = like[key]
  for key, value in overrides.items():
    if key not in block:
      raise KeyError(f"the {name!r} generator has no option {key!r}; it has {sorted(block)}")
    block[key] = value
  return block


def build(block: ml_collections.ConfigDict, **common) -> GeneratorBase:
  """The flax module for `block` (a family's options), with the fields every family has in `common`."""
  options = {k: (tuple(v) if isinstance(v, (list, tuple)) else v) for k, v in block.items()
             if k != "name" and k not in LATENT_KEYS}
  return FAMILIES[block.name][1](**options, **common)
