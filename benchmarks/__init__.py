"""Speed benchmarks for gan_core: `python -m benchmarks` (or `./lab bench`).

What it measures, each in its own fresh process (so peak memory is per measurement):

  * training images/s of gan_core's Trainer for each model and loss, side by side with the
    straightforward tutorial loop of the same networks (benchmarks.baseline), in one run;
  * seconds of training until the judge classifier recognises the samples: at least 80% of
    1,000 samples with confidence >= 0.9, all 10 digits present (or the best within a budget);
  * sampling latency: 64 samples, and one frame of a latent walk;
  * peak resident memory of each of those processes.

The table is printed and written to benchmarks/results/ (latest.json and latest.md).
"""
