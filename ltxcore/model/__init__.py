"""LTX-2.3 components: the model spec, the one loader, encoders, the transformer call, LoRA plumbing, accounting.

Real weights and the `tiny` preset take the same path: a diffusers-layout directory on local disk.
"""

from ltxcore.model.spec import ModelSpec

__all__ = ["ModelSpec"]
