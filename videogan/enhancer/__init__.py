"""The enhancement network as a task: denoise, sharpen and super-resolve video (configs/enhancer.py).

  enhancer.task.train(config, workdir)                     # --mode train_enhancer
  enhancer.evaluate.evaluate_checkpoint(workdir)           # --mode eval_enhancer: PSNR / SSIM / flicker vs bicubic
  enhancer.infer.enhance_video(workdir, "in.mp4", "out.mp4", scale=2)   # --mode enhance, streamed in chunks
  enhancer.infer.enhance_clips(enhancer.infer.load(workdir), clips)     # --enhance on sample / extend / animate
"""
