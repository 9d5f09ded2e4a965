"""From a user's archive to a dataset manifest: fetch, extract, scenes, fit, build, report."""
