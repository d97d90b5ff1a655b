"""The synthetic city generator (`python -m actseg synth`): street scenes drawn from a seed
(`scene`, `objects`, `draw`), rendered with textures, lighting and noise (`render`), and
written as a Cityscapes-layout tree (`generator`). Reading the tree is `actseg.datasets`'s
job."""

from actseg.synth.generator import Difficulty, generate, image_relpaths, synthesize

__all__ = ["Difficulty", "generate", "image_relpaths", "synthesize"]
