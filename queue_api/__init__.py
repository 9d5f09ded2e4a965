"""A drop-in for the hosted queue API (the protocol fal's own client speaks), in front of the Prefect deployment.

Request ids are Prefect flow-run ids. This package is a face at the flows layer: it may import Prefect, `flows.remote`
and `ltxcore`; `ltxcore` never imports it.
"""
