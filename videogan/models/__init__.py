"""Flax Linen models: generator, discriminator and their layers."""
