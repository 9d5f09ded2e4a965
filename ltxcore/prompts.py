"""Prompts the job supplies when the user gives none."""

DEFAULT_NEGATIVE_PROMPT = (
    "worst quality, low quality, blurry, out of focus, jittery, shaky, inconsistent motion, distorted, deformed, "
    "disfigured, morphing, flickering, warped, smeared, low resolution, pixelated, compression artifacts, "
    "watermark, text, subtitles, static, frozen frame, abrupt cut, unnatural movement"
)
