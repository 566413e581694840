"""The GAN task: its state, train step, sampling, conditional generation and evaluation."""
