"""Backward extension at inference: the suffix sampler, guidance, decoding, the validation reel, the seam metric."""
