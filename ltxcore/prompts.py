"""Prompts the job supplies when the user gives none."""

# Both modalities, as the official pipelines' default: under audio CFG 7 the audio terms are what the audio stream is
# pushed away from (a video-only negative leaves the audio guidance pointing at nothing in particular).
DEFAULT_NEGATIVE_PROMPT = (
    "worst quality, low quality, blurry, out of focus, jittery, shaky, inconsistent motion, distorted, deformed, "
    "disfigured, morphing, flickering, warped, smeared, low resolution, pixelated, compression artifacts, "
    "watermark, text, subtitles, static, frozen frame, abrupt cut, unnatural movement, "
    "silent or muted audio, distorted audio, clipping, crackling, hiss, background noise, echo, "
    "distorted voice, robotic voice, mismatched lip sync, off-sync audio, sound out of sync with the action, "
    "abrupt audio cut, repetitive speech, added dialogue"
)
