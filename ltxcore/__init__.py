"""extend-suffix core library: request contract, media, dataset, model, training, sampling. Never imports Prefect."""

import logging

# torchao (the int8/8-bit-optimizer memory tiers) ships kernels for CUDA builds only; on import it warns about each
# one it cannot load, and diffusers and torch echo it on every model import. Those lines say nothing a user can act on.
for _name in ("torchao", "diffusers.quantizers.torchao.torchao_quantizer", "torch.utils._pytree"):
    logging.getLogger(_name).setLevel(logging.ERROR)
