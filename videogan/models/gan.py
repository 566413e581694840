"""The generator/discriminator pair and the randomness they consume."""

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections

from videogan.models import discriminator as discriminator_lib
from videogan.models import generators


@dataclasses.dataclass(frozen=True)
class VideoGAN:
  """Modules plus the shapes of their inputs; holds no parameters."""

  generator: generators.GeneratorBase
  discriminator: discriminator_lib.Discriminator
  clip_len: int
  image_size: int
  channels: int
  content_dim: int
  motion_noise_dim: int
  spatial_frames: int
  context_frames: int = 0  # Given frames a clip continues (0: unconditional).
  num_classes: int = 0  # > 0: class-conditional G and D.
  context_dropout: float = 0.0  # With context frames: the share of each batch drawn without them.
  # With context frames: the share of the clips given context that training continues a second time,
  # from their own last k frames (a rollout's second window, as `--mode extend` chains them).
  rollout_fraction: float = 0.0
  # Dtype of G's and D's arithmetic. bfloat16 keeps float32 parameters (and
  # optimizer states and losses): they are cast on the way in, and clips,
  # logits and spectral-norm stats come back as float32.
  compute_dtype: str = "float32"

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict) -> "VideoGAN":
    g, d = config.model.generator, config.model.discriminator
    return cls(
        generator=generators.build(
            g,
            out_channels=config.data.channels,
            context_frames=config.model.context_frames,
            num_classes=config.model.num_classes,
            impl=config.model.conv_impl,
            # Off when a mesh axis other than `data` may shard parameters (layers.SpatialConv).
            small_grid_upsample=all(size == 1 for axis, size in config.mesh.items() if axis != "data"),
        ),
        discriminator=discriminator_lib.Discriminator(
            spatial_widths=tuple(d.spatial_widths),
            temporal_widths=tuple(d.temporal_widths),
            spectral_norm=d.spectral_norm,
            pooling=d.pooling,
            spatial_depth=d.spatial_depth,
            num_classes=config.model.num_classes,
            impl=config.model.conv_impl,
        ),
        clip_len=config.data.clip_len,
        image_size=config.data.image_size,
        channels=config.data.channels,
        content_dim=g.content_dim,
        motion_noise_dim=g.motion_noise_dim,
        spatial_frames=d.spatial_frames,
        context_frames=config.model.context_frames,
        num_classes=config.model.num_classes,
        context_dropout=config.model.context_dropout,
        rollout_fraction=config.model.rollout_fraction,
        compute_dtype=config.model.compute_dtype,
    )

  @property
  def video_shape(self) -> tuple[int, int, int, int]:
    return (self.clip_len, self.image_size, self.image_size, self.channels)

  @property
  def draws_whole_clips(self) -> bool:
    """Whether G can also draw clips without context (an unconditional model, or one with context dropout)."""
    return not self.context_frames or self.context_dropout > 0

  def without_context(self, batch: int) -> int:
    """How many of a training batch's `batch` clips G draws without context: the last round(batch * dropout)."""
    return min(round(batch * self.context_dropout), batch - 1) if self.context_frames and batch > 1 else 0

  def rolled_out(self, batch: int) -> int:
    """How many of the clips given context training continues once more: the last round(given * fraction) of them."""
    given = batch - self.without_context(batch)
    return min(round(given * self.rollout_fraction), given - 1) if self.context_frames and given > 1 else 0

  def continuing_truth(self, batch: int) -> int:
    """How many of a training batch's first clips continue the real context (those an L1 to the truth fits)."""
    return batch - self.without_context(batch) - self.rolled_out(batch) if self.context_frames else 0

  def latents(self, rng: jax.Array, batch: int, with_context: bool = True) -> dict[str, jax.Array]:
    """Noise for `batch` clips: motion noise for the clip's generated (non-context) frames."""
    generated = self.clip_len - (self.context_frames if with_context else 0)
    return generators.sample_latents(rng, batch, generated, self.content_dim, self.motion_noise_dim)

  def conditioning(self, batch: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """What G takes from a data batch: the first `context_frames` frames and/or the label."""
    cond = {}
    if self.context_frames:
      cond["context"] = batch["video"][:, : self.context_frames]
    if self.num_classes:
      cond["label"] = batch["label"]
    return cond

  def _compute(self, tree):
    """Floating-point leaves of `tree` in the compute dtype (integer labels and indices untouched)."""
    dtype = jnp.dtype(self.compute_dtype)
    return jax.tree.map(lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)

  def generate(self, g_params, rng: jax.Array, batch: int, rollout: bool = False, **conditioning) -> jax.Array:
    """Samples `batch` clips [B, T, H, W, C] in [-1, 1] from fresh latents (and `context`/`label`).

    With context and `context_dropout`, the last `without_context(batch)`
    clips ignore their context and are drawn whole. With `rollout` (training),
    the last `rolled_out(batch)` clips given context are continued a second
    time from their own last k frames: such a clip is [G's k frames, the second
    window's new frames], a window that straddles the seam between two windows
    of a rollout, so D judges what G makes from its own frames.
    """
    if self.context_frames and "context" not in conditioning and not self.draws_whole_clips:
      raise ValueError(f"this generator continues {self.context_frames} context frame(s) and was not trained to draw "
                       "whole clips (model.context_dropout=0); pass context.")
    params = {"params": self._compute(g_params)}
    with_context = "context" in conditioning or not self.context_frames
    free = self.without_context(batch) if with_context else batch
    given = batch - free
    parts = []
    if given:
      cond = {k: v[:given] for k, v in conditioning.items()}
      clips = self.generator.apply(params, **self._compute(self.latents(rng, given, with_context)),
                                   **self._compute(cond))
      rolled = self.rolled_out(batch) if rollout else 0
      if rolled:  # The gradient flows through both windows (back-propagation through the rollout).
        again = {k: v[given - rolled :] for k, v in cond.items()} | {"context": clips[given - rolled :, -self.context_frames :]}
        second = self.generator.apply(params, **self._compute(self.latents(jax.random.fold_in(rng, 2), rolled)),
                                      **self._compute(again))
        clips = jnp.concatenate([clips[: given - rolled], second])
      parts.append(clips)
    if free:
      cond = {k: v[given:] for k, v in conditioning.items() if k != "context"}
      latents = self.latents(jax.random.fold_in(rng, 1), free, with_context=False)
      parts.append(self.generator.apply(params, **self._compute(latents), **self._compute(cond)))
    return jnp.concatenate(parts).astype(jnp.float32)

  def frame_indices(self, rng: jax.Array, batch: int) -> jax.Array:
    """`spatial_frames` distinct frame indices per clip, int32 [B, k]."""
    return jnp.argsort(jax.random.uniform(rng, (batch, self.clip_len)), axis=1)[:, : self.spatial_frames]

  def discriminate(self, d_params, d_stats, video: jax.Array, frame_idx: jax.Array, update_stats: bool,
                   label: jax.Array | None = None):
    """Logits `{"spatial": [B, k], "temporal": [B]}` and the (updated) spectral-norm stats."""
    logits, variables = self.discriminator.apply(
        {"params": self._compute(d_params), "batch_stats": d_stats}, self._compute(video), frame_idx,
        update_stats=update_stats, label=label, mutable=["batch_stats"],
    )
    stats = jax.tree.map(lambda new, old: new.astype(old.dtype), variables["batch_stats"], d_stats)
    return jax.tree.map(lambda x: x.astype(jnp.float32), logits), stats
