"""Stage outputs: content keys, atomic writes, stage directories and their locks, fsspec, the mirror."""
