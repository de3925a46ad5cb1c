"""`diffpaint serve`: the backend as an HTTP job service (FastAPI + uvicorn).

One module one job:

- ``command``   — the ``serve`` subcommand: arguments, socket, uvicorn (imports nothing heavy until run)
- ``config``    — limits and settings a job may ask for, checked before anything runs
- ``app``       — the HTTP API: routes, bearer-token auth, upload checks, error bodies
- ``jobs``      — the job queue: one job at a time per device, each in its own worker process
- ``worker``    — the per-job process (``python -m diffpaint.server.worker JOB_DIR``)
- ``reconstructor`` — adapts the optimiser's callbacks to job outputs (progress, previews, levels)

A job runs in a child process rather than a thread: cancelling is a kill that always works (the
optimiser has no cancellation point inside a step), a crash or out-of-memory error in one job
cannot take the server down, and GPU/CPU memory goes back to the system after every job.
"""
