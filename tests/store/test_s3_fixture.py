from ltxcore.store.fs import filesystem


def test_loopback_s3_server_round_trips_an_object(s3_bucket: str) -> None:
    fs, path = filesystem(f"{s3_bucket}/a/b.bin")
    fs.pipe(path, b"x" * 1000)
    fs2, _ = filesystem(s3_bucket)
    assert fs2.info(path)["size"] == 1000
    assert fs2.cat(path) == b"x" * 1000
