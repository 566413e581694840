r"""The default train step written in PyTorch, timed like benchmarks/train_step.py.

  pip install -r benchmarks/requirements-torch.txt   # CPU build; benchmark-only
  python benchmarks/torch_twin.py [--config configs/moving_mnist.py] [--impl fold|conv3d] [--json]

The same G and D as videogan/models (read from the same config: widths,
latent sizes, k frames, spectral norm), the same losses (non-saturating, or
hinge; R1 on real clips, lazily every `r1_every` steps), the same Adam
settings, batch, step order (D on [real; G(z)], then G through the updated D
with fresh frame indices, one G forward shared by both) and EMA of G; the
`gru`, `sprites` and `style` generators (without given frames). Layers, as in
videogan/models/layers.py:

* `--impl fold`: spatial convs as Conv2d on frames folded into the batch,
  temporal convs as Conv2d with a (k, 1) kernel over [time, height * width];
* `--impl conv3d`: Conv3d with (1, k, k) and (k, 1, 1) kernels;

both in channels-last memory format, `torch.set_num_threads(--threads)`. The
convs pad through their `padding=` argument where SAME padding is symmetric
(`--explicit_pad`: an F.pad copy first, as the first twin did). An upsampling conv
convolves the upsampled frames, the same function as videogan's small-grid form and
in PyTorch the faster (`--small_grid`: videogan's arithmetic, 1.14x slower at 64x64 and
1.27x at 128x128 here). `--fused` (Adam's fused kernel) and `--compile` (torch.compile
of G and D) are options, off by default: neither was faster here (docs/performance.md).
Its spectral norm iterates as flax's, and benchmarks/same_losses.py checks that from
videogan's weights and draws it gives videogan's losses.
Never imported by the videogan package.
"""

import dataclasses
import json
import time

import numpy as np
import step_timing
import torch
import torch.nn.functional as F
from absl import app, flags
from ml_collections import config_flags
from torch import nn
from torch.nn.utils import parametrize

config_flags.DEFINE_config_file("config", "configs/moving_mnist.py", "Config whose model to build.", lock_config=True)
flags.DEFINE_enum("impl", "fold", ["fold", "conv3d"], "How (2+1)D convs are computed.")
flags.DEFINE_integer("threads", 2, "torch.set_num_threads.")
flags.DEFINE_integer("steps", 10, "Timed steps.")
flags.DEFINE_integer("warmup", 2, "Untimed steps.")
flags.DEFINE_bool("small_grid", False, "Upsampling convs on the small grid, as videogan's (default: upsample, then "
                  "conv, the same function and faster in PyTorch).")
flags.DEFINE_bool("explicit_pad", False, "Pad with an F.pad copy before every conv (the first twin's way).")
flags.DEFINE_bool("fused", False, "Adam(fused=True): one kernel per optimizer step.")
flags.DEFINE_bool("compile", False, "torch.compile G and D (the first steps compile).")
flags.DEFINE_bool("json", False, "Print one JSON line instead of text.")
FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class Options:
  """How the twin computes its layers (the command's flags)."""

  impl: str = "fold"  # "fold": Conv2d on folded frames; "conv3d": Conv3d.
  small_grid: bool = False  # Upsampling convs on the small grid, as videogan's (slower in PyTorch).
  explicit_pad: bool = False  # An F.pad copy before every conv, as the first twin.
  fused: bool = False  # Adam(fused=True).

  @classmethod
  def from_flags(cls) -> "Options":
    return cls(FLAGS.impl, FLAGS.small_grid, FLAGS.explicit_pad, FLAGS.fused)


def same_padding(kernel: int, stride: int, size: int) -> tuple[int, int]:
  """TensorFlow SAME padding, as videogan.models.layers."""
  out = -(-size // stride)
  total = max((out - 1) * stride + kernel - size, 0)
  return total // 2, total - total // 2


class SpatialConv(nn.Module):
  """k x k conv on every frame of [B, C, T, H, W]; SAME padding."""

  def __init__(self, c_in, c_out, kernel=3, stride=1, opts=Options()):
    super().__init__()
    self.kernel, self.stride, self.impl, self.explicit_pad = kernel, stride, opts.impl, opts.explicit_pad
    if self.impl == "fold":
      self.conv = nn.Conv2d(c_in, c_out, kernel, stride)
    else:
      self.conv = nn.Conv3d(c_in, c_out, (1, kernel, kernel), (1, stride, stride))

  def forward(self, x):
    b, c, t, h, w = x.shape
    ph, pw = same_padding(self.kernel, self.stride, h), same_padding(self.kernel, self.stride, w)
    inline = not self.explicit_pad and ph[0] == ph[1] and pw[0] == pw[1]  # The conv pads: no copy.
    self.conv.padding = ((ph[0], pw[0]) if self.impl == "fold" else (0, ph[0], pw[0])) if inline else (
        (0, 0) if self.impl == "fold" else (0, 0, 0))
    if self.impl == "fold":
      x = x.transpose(1, 2).reshape(b * t, c, h, w)
      y = self.conv(x if inline else F.pad(x, (*pw, *ph)))
      return y.reshape(b, t, *y.shape[1:]).transpose(1, 2)
    return self.conv(x if inline else F.pad(x, (*pw, *ph, 0, 0)))


# videogan.models.layers._UPSAMPLE_TAPS: tap d of a 3x3 kernel feeds tap e of output phase a's small-grid kernel.
UPSAMPLE_TAPS = torch.tensor([[[float((a + d - 1) // 2 == e - 1) for d in range(3)] for e in range(3)] for a in range(2)])


class UpsampleConv(nn.Module):
  """3x3 SAME conv of the nearest-2x-upsampled frames of [B, C, T, H, W], as videogan's SpatialConv(upsample=2).

  small_grid: each output phase (a, b) is a 2x2 conv of the small frames (4/9 of the FLOPs,
  videogan.models.layers._upsample_conv); otherwise upsample, then convolve.
  """

  def __init__(self, c_in, c_out, opts):
    super().__init__()
    self.small_grid = opts.small_grid and opts.impl == "fold"
    self.inner = SpatialConv(c_in, c_out, 3, 1, opts)

  def forward(self, x):
    if not self.small_grid:
      return self.inner(F.interpolate(x, scale_factor=(1, 2, 2), mode="nearest"))
    b, c, t, h, w = x.shape
    conv = self.inner.conv
    taps = torch.einsum("aed,bfg,ocdg->abocef", UPSAMPLE_TAPS, UPSAMPLE_TAPS, conv.weight)
    frames = F.pad(x.transpose(1, 2).reshape(b * t, c, h, w), (1, 1, 1, 1))
    phases = [F.conv2d(frames[:, :, a:a + h + 1, q:q + w + 1], taps[a, q, :, :, a:a + 2, q:q + 2])
              for a in (0, 1) for q in (0, 1)]  # out[:, :, 2i + a, 2j + q] = phase (a, q)[:, :, i, j]
    y = F.pixel_shuffle(torch.stack(phases, 2).flatten(1, 2), 2) + conv.bias[:, None, None]
    return y.reshape(b, t, *y.shape[1:]).transpose(1, 2)


class TemporalConv(nn.Module):
  """k-tap conv along time of [B, C, T, H, W]; SAME padding with zeros or edge copies."""

  def __init__(self, c_in, c_out, kernel=3, stride=1, edge=False, opts=Options()):
    super().__init__()
    self.kernel, self.stride, self.edge, self.impl, self.explicit_pad = kernel, stride, edge, opts.impl, opts.explicit_pad
    if self.impl == "fold":
      self.conv = nn.Conv2d(c_in, c_out, (kernel, 1), (stride, 1))
    else:
      self.conv = nn.Conv3d(c_in, c_out, (kernel, 1, 1), (stride, 1, 1))

  def forward(self, x):
    b, c, t, h, w = x.shape
    lo, hi = same_padding(self.kernel, self.stride, t)
    inline = not self.edge and not self.explicit_pad and lo == hi  # The conv pads: no copy.
    self.conv.padding = ((lo, 0) if self.impl == "fold" else (lo, 0, 0)) if inline else (
        (0, 0) if self.impl == "fold" else (0, 0, 0))
    if self.edge:
      x = torch.cat([x[:, :, :1]] * lo + [x] + [x[:, :, -1:]] * hi, dim=2)
    elif not inline:
      x = F.pad(x, (0, 0, 0, 0, lo, hi))
    if self.impl == "fold":
      y = self.conv(x.reshape(b, c, x.shape[2], h * w))
      return y.reshape(b, -1, y.shape[2], h, w)
    return self.conv(x)


class VideoConv(nn.Sequential):
  def __init__(self, c_in, c_out, kernel=3, stride=1, temporal_stride=1, edge=False, opts=Options()):
    super().__init__(SpatialConv(c_in, c_out, kernel, stride, opts), TemporalConv(c_out, c_out, 3, temporal_stride, edge, opts))


def pixel_norm(x, eps=1e-8):
  return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + eps)


class Generator(nn.Module):
  """MoCoGAN-style: content latent + GRU motion latents -> (2+1)D decoder, as videogan's."""

  def __init__(self, widths, content_dim, motion_noise_dim, motion_dim, out_channels, upsample, opts):
    super().__init__()
    self.widths, self.upsample = widths, upsample
    self.rnn = nn.GRU(motion_noise_dim, motion_dim, batch_first=True)
    self.project = nn.Linear(content_dim + motion_dim, 16 * widths[0])
    self.blocks = nn.ModuleList(  # (2+1)D blocks whose spatial conv reads the 2x upsampled frames.
        nn.Sequential(UpsampleConv(c_in, c_out, opts), TemporalConv(c_out, c_out, 3, 1, True, opts))
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True))
    self.to_pixels = SpatialConv(widths[-1], out_channels * upsample**2, opts=opts)

  def forward(self, content, motion_noise):
    b, t, _ = motion_noise.shape
    motion, _ = self.rnn(motion_noise)
    z = torch.cat([content[:, None].expand(b, t, content.shape[-1]), motion], -1)
    x = self.project(z).reshape(b, t, 4, 4, self.widths[0]).permute(0, 4, 1, 2, 3)  # [B, C, T, 4, 4]
    x = torch.relu(pixel_norm(x)).contiguous(memory_format=torch.channels_last_3d)
    for block in self.blocks:
      x = torch.relu(pixel_norm(block(x)))
    x = self.to_pixels(x)
    if self.upsample > 1:
      x = F.pixel_shuffle(x.transpose(1, 2), self.upsample).transpose(1, 2)
    return torch.tanh(x)


class SpriteGenerator(nn.Module):
  """motion="sprites": a background and sprites decoded once per clip, moved by the GRU, as videogan's."""

  def __init__(self, widths, content_dim, motion_noise_dim, motion_dim, out_channels, upsample, num_sprites, blend,
               decoder, positions, background, depth, opts):
    super().__init__()
    self.widths, self.upsample, self.k, self.c, self.blend = widths, upsample, num_sprites, out_channels, blend
    self.whole_pixels = positions == "pixel"
    self.m = out_channels + 1 if blend == "over" else out_channels  # Colour (and opacity for "over") per sprite.
    self.bg = int(background)  # Background layers: 1, or 0 (black).
    self.maps = num_sprites + self.bg if decoder == "shared" else 1  # 4 px maps: one per layer, or one for all.
    self.rnn = nn.GRU(motion_noise_dim, motion_dim, batch_first=True)
    self.project = nn.Linear(content_dim, 16 * widths[0] * self.maps)
    pairs = list(zip(widths[:-1], widths[1:], strict=True))
    self.blocks = nn.ModuleList(UpsampleConv(c_in, c_out, opts)
                                for c_in, c_out in pairs[: len(pairs) - 1 + self.bg])
    self.extra = nn.ModuleList(  # block_depth - 1 stride-1 3x3 convs after each upsampling one, as videogan's.
        nn.ModuleList(SpatialConv(c_out, c_out, opts=opts) for _ in range(depth - 1))
        for _, c_out in pairs[: len(pairs) - 1 + self.bg])
    self.to_sprites = SpatialConv(widths[-2], (1 if decoder == "shared" else num_sprites) * self.m * upsample**2,
                                  opts=opts)
    self.to_pixels = SpatialConv(widths[-1], out_channels * upsample**2, opts=opts) if self.bg else None
    self.to_start = nn.Linear(content_dim, 2 * num_sprites)
    self.to_velocity = nn.Linear(motion_dim, 2 * num_sprites)

  def to_image(self, x):  # [B, C r^2, L, h, w] -> [B, L, C, rh, rw]
    x = x.transpose(1, 2)
    return F.pixel_shuffle(x, self.upsample) if self.upsample > 1 else x

  def forward(self, content, motion_noise):
    b, t, _ = motion_noise.shape
    x = self.project(content).reshape(b, self.maps, 4, 4, self.widths[0]).permute(0, 4, 1, 2, 3)  # [B, C, L, 4, 4]
    x = torch.relu(pixel_norm(x)).contiguous(memory_format=torch.channels_last_3d)
    for i in range(len(self.widths) - 1):
      if i == len(self.widths) - 2:
        if self.maps > 1:  # Shared: layer 0 is the background (if any), the rest the sprites.
          sprites, x = self.to_image(self.to_sprites(x[:, :, self.bg :])), x[:, :, :1]
        else:
          sprites = self.to_image(self.to_sprites(x))
        sprites = sprites.reshape(b, self.k, self.m, *sprites.shape[-2:])  # [B, K, m, S, S]
        if not self.bg:
          break
      x = torch.relu(pixel_norm(self.blocks[i](x)))
      for conv in self.extra[i]:
        x = torch.relu(pixel_norm(conv(x)))
    side, size = 4 * 2 ** (len(self.widths) - 1) * self.upsample, sprites.shape[-1]
    if self.bg:
      background = torch.tanh(self.to_image(self.to_pixels(x))[:, 0])  # [B, C, H, W]
    else:  # Black.
      background = torch.full((b, self.c, side, side), -1.0)
    motion, _ = self.rnn(motion_noise)
    path = self.to_start(content)[:, None] + torch.cumsum(self.to_velocity(motion), 1)
    corner = (1 - (torch.remainder(path, 2) - 1).abs()) * (side - size)  # Bounced inside the frame.
    corner = corner.reshape(b, t, self.k, 2)
    rows = torch.arange(side, dtype=x.dtype)[:, None] - torch.arange(size, dtype=x.dtype)

    def tent(corner):  # [B, T, K] -> [B, T, K, side, S]; whole pixels: rounded forward, bilinear backward.
      weights = torch.relu(1 - (rows - corner[..., None, None]).abs())
      if not self.whole_pixels:
        return weights
      return weights + (torch.relu(1 - (rows - corner.round()[..., None, None]).abs()) - weights).detach()

    along_y, along_x = tent(corner[..., 0]), tent(corner[..., 1])  # [B, T, K, side, S]
    if self.blend == "max":  # Each pixel the brightest layer's, in [0, 1] intensities.
      ink = torch.einsum("btkyi,bkcij,btkxj->btkcyx", along_y, (torch.tanh(sprites) + 1) / 2, along_x)
      frames = (background[:, None] + 1) / 2
      for i in range(self.k):  # Pairwise maxima, as the JAX generator.
        frames = torch.maximum(frames, ink[:, :, i])
      frames = frames * 2 - 1
      return frames.transpose(1, 2).contiguous(memory_format=torch.channels_last_3d)  # [B, C, T, H, W]
    alpha = torch.sigmoid(sprites[:, :, self.c :])
    premultiplied = torch.cat([alpha * torch.tanh(sprites[:, :, : self.c]), alpha], 2)
    moved = torch.einsum("btkyi,bkcij,btkxj->btkcyx", along_y, premultiplied, along_x)
    frames = background[:, None].expand(b, t, *background.shape[1:])
    for i in range(self.k):
      frames = moved[:, :, i, : self.c] + (1 - moved[:, :, i, self.c :]) * frames
    return frames.transpose(1, 2).contiguous(memory_format=torch.channels_last_3d)  # [B, C, T, H, W]


class StyleGenerator(nn.Module):
  """The `style` family (videogan/models/generators/style.py) without context, class, motion or sprite layers."""

  def __init__(self, widths, content_dim, motion_noise_dim, style_dim, period, normalization, out_channels, upsample,
               opts):
    super().__init__()
    if normalization != "pixel":
      raise ValueError(f"normalization={normalization!r}: the twin has 'pixel'.")
    self.widths, self.period, self.upsample = widths, period, upsample
    self.mapping = nn.ModuleList([nn.Linear(content_dim, style_dim), nn.Linear(style_dim, style_dim)])
    self.motion_codes = nn.Linear(motion_noise_dim, style_dim)
    self.project = nn.Linear(content_dim, 16 * widths[0])
    self.styles = nn.ModuleList(nn.Linear(2 * style_dim, 2 * c) for c in widths)
    for layer in self.styles:  # Modulations from zero, as videogan's.
      nn.init.zeros_(layer.weight)
      nn.init.zeros_(layer.bias)
    self.blocks = nn.ModuleList(UpsampleConv(c_in, c_out, opts)
                                for c_in, c_out in zip(widths[:-1], widths[1:], strict=True))
    self.to_pixels = SpatialConv(widths[-1], out_channels * upsample**2, opts=opts)

  def modulate(self, x, style, i):  # leaky_relu((1 + g) pixel_norm(x) + b), [g, b] = A_i [w, m_t]
    gain, bias = self.styles[i](style).transpose(1, 2)[..., None, None].chunk(2, 1)  # [B, C, T, 1, 1] each
    return F.leaky_relu((1 + gain) * pixel_norm(x) + bias, 0.2)

  def forward(self, content, motion_noise):
    b, t, _ = motion_noise.shape
    w = content
    for layer in self.mapping:
      w = F.leaky_relu(layer(w), 0.2)
    codes = self.motion_codes(torch.cat([motion_noise[:, :: self.period], motion_noise[:, -1:]], 1))
    frame = torch.arange(t)
    j, f = frame // self.period, (frame % self.period / self.period)[None, :, None]
    style = torch.cat([w[:, None].expand(b, t, w.shape[-1]), (1 - f) * codes[:, j] + f * codes[:, j + 1]], -1)
    x = self.project(content).reshape(b, 1, 4, 4, self.widths[0]).permute(0, 4, 1, 2, 3)  # [B, C, 1, 4, 4]
    x = torch.relu(pixel_norm(x)).expand(-1, -1, t, -1, -1).contiguous(memory_format=torch.channels_last_3d)
    x = self.modulate(x, style, 0)
    for i, block in enumerate(self.blocks):
      x = self.modulate(block(x), style, i + 1)
    x = self.to_pixels(x)
    if self.upsample > 1:
      x = F.pixel_shuffle(x.transpose(1, 2), self.upsample).transpose(1, 2)
    return torch.tanh(x)


class SpectralNorm(nn.Module):
  """W / sigma(W) as flax.linen.SpectralNorm computes it for videogan's D.

  Every call runs one power iteration from the stored u, v = u W / |u W|, u' = W v / |W v|,
  sigma = u' W v, and stores u' only in training mode (torch's own spectral_norm skips the
  iteration in eval mode and stores it on every training-mode call, R1's included).
  """

  def __init__(self, weight, eps=1e-12):
    super().__init__()
    self.eps = eps
    self.register_buffer("u", torch.randn(weight.shape[0]))

  def l2(self, x):
    return x * torch.rsqrt(x.square().sum() + self.eps)

  def forward(self, weight):
    w = weight.flatten(1)  # [out, in * taps]: flax's [taps * in, out] transposed; the same singular values.
    with torch.no_grad():
      v = self.l2(self.u @ w)
      u = self.l2(w @ v)
      if self.training:
        self.u.copy_(u)
    return weight / (u @ w @ v)


def spectral_norm(module):
  parametrize.register_parametrization(module, "weight", SpectralNorm(module.weight))
  return module


class Discriminator(nn.Module):
  """DVD-GAN-style spatial (k frames) + temporal (half-size clip) heads, spectral norm."""

  def __init__(self, channels, size, clip_len, spatial_widths, temporal_widths, sn, opts, pooling="flatten",
               spatial_depth=1):
    super().__init__()
    self.summed = summed = pooling == "sum"  # Then each logit has one input per channel.
    self.spatial_depth = spatial_depth
    wrap = spectral_norm if sn else (lambda m: m)
    self.spatial = nn.ModuleList()
    for c_in, c_out in zip((channels, *spatial_widths[:-1]), spatial_widths, strict=True):
      # The stride-2 4x4 conv, then spatial_depth - 1 stride-1 3x3 convs, as videogan's.
      for conv in [SpatialConv(c_in, c_out, 4, 2, opts)] + [SpatialConv(c_out, c_out, 3, 1, opts)
                                                             for _ in range(spatial_depth - 1)]:
        conv.conv = wrap(conv.conv)
        self.spatial.append(conv)
    self.spatial_logit = wrap(nn.Linear(spatial_widths[-1] * (1 if summed else (size // 2 ** len(spatial_widths)) ** 2), 1))
    self.temporal = nn.ModuleList()
    t = clip_len
    for c_in, c_out in zip((channels, *temporal_widths[:-1]), temporal_widths, strict=True):
      conv = VideoConv(c_in, c_out, 4, 2, 2 if t > 1 else 1, opts=opts)
      for m in conv:
        m.conv = wrap(m.conv)
      self.temporal.append(conv)
      t = -(-t // 2) if t > 1 else 1
    side = size // 2 // 2 ** len(temporal_widths)
    self.temporal_logit = wrap(nn.Linear(temporal_widths[-1] * (1 if summed else t * side * side), 1))

  def forward(self, video, frame_idx):
    """video [B, C, T, H, W], frame_idx [B, k] -> (spatial logits [B, k], temporal logits [B])."""
    b, c, _, h, w = video.shape
    x = torch.gather(video, 2, frame_idx[:, None, :, None, None].expand(b, c, frame_idx.shape[1], h, w))
    for conv in self.spatial:
      x = F.leaky_relu(conv(x), 0.2)
    x = x.permute(0, 2, 3, 4, 1)  # [B, k, h, w, C]: positions before channels, as the JAX D flattens.
    spatial = self.spatial_logit(x.sum((2, 3)) if self.summed else x.reshape(b, x.shape[1], -1))[..., 0]
    x = F.avg_pool3d(video, (1, 2, 2))
    for conv in self.temporal:
      x = F.leaky_relu(conv(x), 0.2)
    x = x.permute(0, 2, 3, 4, 1)
    temporal = self.temporal_logit(x.sum((1, 2, 3)) if self.summed else x.reshape(b, -1))[..., 0]
    return spatial, temporal


def gan_losses(name):
  """(d_loss(real, fake), g_loss(fake)) on logits, each a mean, as videogan/losses.py."""
  if name == "hinge":
    return (lambda r, f: F.relu(1 - r).mean() + F.relu(1 + f).mean()), (lambda f: -f.mean())
  # Non-saturating: -log sigmoid(r) - log(1 - sigmoid(f)) = softplus(-r) + softplus(f).
  return (lambda r, f: F.softplus(-r).mean() + F.softplus(f).mean()), (lambda f: F.softplus(-f).mean())


def build(config, opts=Options()):
  g, d = config.model.generator, config.model.discriminator
  if g.name == "sprites":
    gen = SpriteGenerator(tuple(g.widths), g.content_dim, g.motion_noise_dim, g.motion_dim, config.data.channels,
                          g.output_upsample, g.num_sprites, g.sprite_blend, g.sprite_decoder,
                          g.sprite_positions, g.sprite_background, g.block_depth, opts)
  elif g.name == "gru":
    gen = Generator(tuple(g.widths), g.content_dim, g.motion_noise_dim, g.motion_dim, config.data.channels,
                    g.output_upsample, opts)
  elif g.name == "style":
    if g.motion_layers or g.sprite_layers:
      raise ValueError("config.model.generator: the twin's style generator has no motion or sprite layers.")
    gen = StyleGenerator(tuple(g.widths), g.content_dim, g.motion_noise_dim, g.style_dim, g.motion_period,
                         g.normalization, config.data.channels, g.output_upsample, opts)
  else:
    raise ValueError(f"config.model.generator.name={g.name!r}: the twin has 'gru', 'sprites' and 'style'.")
  disc = Discriminator(config.data.channels, config.data.image_size, config.data.clip_len, tuple(d.spatial_widths),
                       tuple(d.temporal_widths), d.spectral_norm, opts, d.pooling, d.spatial_depth)
  for module in (*gen.modules(), *disc.modules()):  # Channels-last weights, as the activations.
    if isinstance(module, (nn.Conv2d, nn.Conv3d)):
      fmt = torch.channels_last if isinstance(module, nn.Conv2d) else torch.channels_last_3d
      module.to(memory_format=fmt)
  opt = config.optimizer
  if opt.decay != "none":  # A schedule costs nothing per step; the twin keeps to constant learning rates.
    raise ValueError(f"config.optimizer.decay={opt.decay!r}: the twin has constant learning rates ('none').")
  fused = {"fused": True} if opts.fused else {}
  g_opt = torch.optim.Adam(gen.parameters(), opt.g_learning_rate, betas=(opt.b1, opt.b2), eps=opt.eps, **fused)
  d_opt = torch.optim.Adam(disc.parameters(), opt.d_learning_rate, betas=(opt.b1, opt.b2), eps=opt.eps, **fused)
  ema = [p.detach().clone() for p in gen.parameters()]
  return gen, disc, g_opt, d_opt, ema


def make_step(config, gen, disc, g_opt, d_opt, ema, draw=None):
  """`step(real [B, C, T, H, W]) -> (L_D, L_G)`, videogan's train step.

  `draw()`: the step's randomness, `{"content", "motion_noise", "d_idx", "g_idx"}` (G's latents and
  the frames each D pass picks); by default fresh torch draws. The same-losses test passes videogan's.
  """
  d_loss_fn, g_loss_fn = gan_losses(config.loss)
  b, t, k = config.batch_size, config.data.clip_len, config.model.discriminator.spatial_frames
  g = config.model.generator

  def frame_indices():
    return torch.argsort(torch.rand(b, t), dim=1)[:, :k]

  def random_draw():
    return {"content": torch.randn(b, g.content_dim), "motion_noise": torch.randn(b, t, g.motion_noise_dim),
            "d_idx": frame_indices(), "g_idx": frame_indices()}

  draw = draw or random_draw

  r1_weight, r1_every = config.r1_weight, config.r1_every
  count = 0

  def r1(real, idx):
    """r1_every * gamma/2 E||grad_x l(x)||^2, l(x) = mean spatial logit + temporal logit."""
    real = real.detach().requires_grad_(True)
    disc.eval()  # The power iteration runs, its u is not stored (videogan's update_stats=False).
    s, tm = disc(real, idx)
    disc.train()
    (grad,) = torch.autograd.grad((s.mean(1) + tm).sum(), real, create_graph=True)
    return r1_every * r1_weight * 0.5 * grad.square().flatten(1).sum(1).mean()

  def step(real):
    nonlocal count
    z = draw()
    fake = gen(z["content"], z["motion_noise"])  # G(z), once.
    # 1. D step on [real; G(z)] in one pass (one spectral-norm power iteration; videogan's two passes compute the same).
    disc.train()
    idx = z["d_idx"]
    s, tm = disc(torch.cat([real, fake.detach()]), torch.cat([idx, idx]))
    d_loss = d_loss_fn(s[:b], s[b:]) + d_loss_fn(tm[:b], tm[b:])
    if r1_weight > 0 and count % r1_every == 0:
      d_loss = d_loss + r1(real, idx)
    count += 1
    d_opt.zero_grad(set_to_none=True)
    d_loss.backward()
    d_opt.step()
    # 2. G step through the updated D (its power iteration not stored: eval mode), fresh frame indices.
    disc.eval()
    s, tm = disc(fake, z["g_idx"])
    g_loss = g_loss_fn(s) + g_loss_fn(tm)
    g_opt.zero_grad(set_to_none=True)
    for p in disc.parameters():
      p.requires_grad_(False)
    g_loss.backward()
    for p in disc.parameters():
      p.requires_grad_(True)
    g_opt.step()
    # 3. EMA of G.
    with torch.no_grad():
      torch._foreach_lerp_(ema, [p.detach() for p in gen.parameters()], 1.0 - config.ema_decay)
    return d_loss.item(), g_loss.item()

  return step


def load_videogan(gen, disc, g_params, d_params, d_stats) -> None:
  """Copies a videogan state's G and D parameters (and spectral-norm u's) into the twin's modules.

  Flax kernels are [kh, kw, in, out] (convs), [k, in, out] (temporal), [in, out] (dense); torch's
  [out, in, ...]. videogan's depth_to_space reads channel (i r + j) C + c where torch's pixel_shuffle
  reads c r^2 + i r + j, so the convs that feed one get their outputs permuted. Families: `sprites`
  and `style`.
  """
  def put(target, value):
    with torch.no_grad():
      target.copy_(torch.tensor(np.asarray(value, np.float32)).reshape(target.shape))

  def weight(module):
    return module.parametrizations.weight.original if parametrize.is_parametrized(module) else module.weight

  def conv(module, p, shuffle=1):  # SpatialConv (or the Conv2d/3d inside) <- {"kernel", "bias"}
    module = getattr(module, "conv", module)
    kernel, bias = np.asarray(p["kernel"]), np.asarray(p["bias"])
    if shuffle > 1:
      c = kernel.shape[-1] // shuffle**2
      order = [(i * shuffle + j) * c + ch for ch in range(c) for i in range(shuffle) for j in range(shuffle)]
      kernel, bias = kernel[..., order], bias[order]
    put(weight(module), kernel.transpose(3, 2, 0, 1) if kernel.ndim == 4 else kernel.transpose(2, 1, 0))
    put(module.bias, bias)

  def dense(module, p):
    put(weight(module), np.asarray(p["kernel"]).T)
    put(module.bias, p["bias"])

  if isinstance(gen, SpriteGenerator):
    cell = g_params["GRUCell_0"]  # nn.RNN(nn.GRUCell) keeps its cell's parameters under the cell's own name.
    zeros = np.zeros_like(cell["hn"]["bias"])
    put(gen.rnn.weight_ih_l0, np.concatenate([cell[n]["kernel"].T for n in ("ir", "iz", "in")]))
    put(gen.rnn.bias_ih_l0, np.concatenate([cell[n]["bias"] for n in ("ir", "iz", "in")]))
    put(gen.rnn.weight_hh_l0, np.concatenate([cell[n]["kernel"].T for n in ("hr", "hz", "hn")]))
    put(gen.rnn.bias_hh_l0, np.concatenate([zeros, zeros, cell["hn"]["bias"]]))
    for name in ("project", "to_start", "to_velocity"):
      dense(getattr(gen, name), g_params[name])
    for i, block in enumerate(gen.blocks):
      conv(block.inner, g_params[f"block{i}"])
      for j, extra in enumerate(gen.extra[i], start=1):
        conv(extra, g_params[f"block{i}_{j}"])
    conv(gen.to_sprites, g_params["to_sprites"], gen.upsample)
    if gen.to_pixels is not None:
      conv(gen.to_pixels, g_params["to_pixels"], gen.upsample)
  elif isinstance(gen, StyleGenerator):
    for i, layer in enumerate(gen.mapping):
      dense(layer, g_params[f"mapping{i}"])
    dense(gen.motion_codes, g_params["motion_codes"])
    dense(gen.project, g_params["project"])
    for i, layer in enumerate(gen.styles):
      dense(layer, g_params[f"style{i}"])
    for i, block in enumerate(gen.blocks):
      conv(block.inner, g_params[f"block{i}"])
    conv(gen.to_pixels, g_params["to_pixels"], gen.upsample)
  else:
    raise ValueError(f"load_videogan: the twin loads the sprites and style generators, not {type(gen).__name__}.")

  def norm_u(module, stats, name):
    module = getattr(module, "conv", module)
    if parametrize.is_parametrized(module):
      put(module.parametrizations.weight[0].u, stats[f"{name}/kernel/u"])

  depth = disc.spatial_depth
  for i, layer in enumerate(disc.spatial):
    name = f"spatial{i // depth}" + (f"_{i % depth}" if i % depth else "")
    conv(layer, d_params[name])
    norm_u(layer, d_stats.get(f"sn_{name}", {}), name)
  for i, block in enumerate(disc.temporal):
    for part, layer in zip(("spatial", "temporal"), block, strict=True):
      conv(layer, d_params[f"temporal{i}"][part])
      norm_u(layer, d_stats.get(f"sn_temporal{i}", {}), f"temporal{i}/{part}")
  for name in ("spatial_logit", "temporal_logit"):
    dense(getattr(disc, name), d_params[name])
    norm_u(getattr(disc, name), d_stats.get(f"sn_{name}", {}), name)


def benchmark(config, steps: int, warmup: int) -> dict:
  torch.set_num_threads(FLAGS.threads)
  torch.manual_seed(0)
  gen, disc, g_opt, d_opt, ema = build(config, Options.from_flags())
  if FLAGS.compile:
    gen, disc = torch.compile(gen), torch.compile(disc)
  c, size = config.data.channels, config.data.image_size
  real = (torch.rand(config.batch_size, c, config.data.clip_len, size, size) * 2 - 1).contiguous(
      memory_format=torch.channels_last_3d)
  step = make_step(config, gen, disc, g_opt, d_opt, ema)
  for _ in range(warmup):
    step(real)
  times = []
  for _ in range(step_timing.whole_cycles(steps, config)):
    t0 = time.perf_counter()
    d_loss, _ = step(real)
    times.append(time.perf_counter() - t0)
  step_s = step_timing.step_time(times, config)
  return {
      "impl": FLAGS.impl,
      "options": {"small_grid": FLAGS.small_grid, "explicit_pad": FLAGS.explicit_pad, "fused": FLAGS.fused,
                  "compile": FLAGS.compile},
      "threads": torch.get_num_threads(),
      "batch": config.batch_size,
      "g_params": sum(p.numel() for p in gen.parameters()),
      "d_params": sum(p.numel() for p in disc.parameters()),
      "step_s": step_s,
      "clips_per_s": config.batch_size / step_s,
      "finite": bool(torch.isfinite(torch.tensor(d_loss))),
      "torch": torch.__version__,
  }


def main(argv):
  del argv
  r = benchmark(FLAGS.config, FLAGS.steps, FLAGS.warmup)
  if FLAGS.json:
    print(json.dumps(r))
    return
  print(f"PyTorch {r['torch']} twin ({r['impl']}, {r['threads']} threads, batch {r['batch']}, "
        f"G {r['g_params']:,} / D {r['d_params']:,} params)")
  print(f"  step time     {r['step_s'] * 1e3:8.1f} ms  ({step_timing.describe(FLAGS.steps, FLAGS.warmup, FLAGS.config)})")
  print(f"  clips/s       {r['clips_per_s']:8.2f}")


if __name__ == "__main__":
  app.run(main)
