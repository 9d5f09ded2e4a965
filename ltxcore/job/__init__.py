"""The job as the endpoint defines it: the request contract, billing, the plan, prepare, publish."""
