"""Media through ffmpeg: the binaries and input guard, probing, muxing, synthetic clips."""
