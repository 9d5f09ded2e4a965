"""Every stage of the job, declared once: its name is its directory under the work root, its version is bumped when
what it writes changes (old outputs then go cold), and its content key names both the directory and the Prefect
cache key. Version 2 everywhere: the restructuring of 2026-12 moved what several stages hash. Version 3: frames above
768x768 are VAE-encoded and decoded in tiles (ltxcore.model.vae_tiling), and the final reel runs with the LoRA merged
into the weights."""

from ltxcore.store.stage import Stage

VALIDATION = Stage("validation", 2)  # fetch and probe of the validation clips
FETCH = Stage("fetch", 2)
EXTRACT = Stage("extract", 2)
PROBE = Stage("probe", 2)
SPLIT = Stage("split", 2)
FIT = Stage("fit", 2)
DATASET = Stage("dataset", 2)
DEBUG_DATASET = Stage("debug-dataset", 2)
ENCODE = Stage("encode", 3)
TEXTS = Stage("validation-texts", 2)  # the validation prompts' and negative prompt's embeddings
TRAIN = Stage("train", 2)
REEL = Stage("validation-reel", 3)
OUTPUTS = Stage("outputs", 2)
