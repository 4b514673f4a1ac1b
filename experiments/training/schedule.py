"""The learning-rate schedule against iterations (paper section 4.2), a picklable callable for LambdaLR."""

from __future__ import annotations


class StepSchedule:
    """lr factor (a multiple of the initial lr) at iteration ``step`` (0-based): a warm-up, then divided by
    1/gamma at each milestone (paper section 4.2). Picklable.

    Warm-up ``"constant"``: ``warmup_factor`` for the first ``warmup_steps`` iterations (the paper's, for
    ResNet-110); ``"linear"``: a ramp from ``warmup_factor`` at iteration 0 to 1 at ``warmup_steps``.
    """

    def __init__(self, milestones: list[int], gamma: float, warmup_steps: int = 0, warmup_factor: float = 1.0,
                 warmup: str = "constant"):
        self.milestones, self.gamma = list(milestones), gamma
        self.warmup_steps, self.warmup_factor, self.warmup = warmup_steps, warmup_factor, warmup

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            if self.warmup == "linear":
                return self.warmup_factor + (1.0 - self.warmup_factor) * step / self.warmup_steps
            return self.warmup_factor
        return self.gamma ** sum(step >= m for m in self.milestones)
