"""`diffpaint serve`: the backend as an HTTP job service (FastAPI + uvicorn).

One module one job:

- ``command``        — the ``serve`` subcommand: arguments, token, socket, uvicorn, clean stop on
  SIGTERM/SIGINT (imports nothing heavy until run)
- ``config``         — the server's limits and running configuration
- ``app``            — ``create_app``: puts the job manager, the guard and the routes together
- ``guard``          — bearer-token check, body cap and body deadline (ASGI middleware), and the
  header deadline uvicorn lacks
- ``models``         — the API's response bodies
- ``settings_form``  — the form fields of ``POST /jobs`` and ``POST /sequences``, derived from
  ``diffpaint_shared.jobschema``
- ``jobs_api``       — the routes
- ``upload``         — an upload's way into a job folder (size cap, image check, target.png)
- ``sequence_upload``— a sequence's upload: a video, or a zip of frames checked and unpacked safely
- ``archive``        — a sequence job's result folder as one zip
- ``devices``        — the devices jobs can run on
- ``job``            — one job's record and its ``state.json`` (what survives a restart)
- ``jobs``           — the job queue: one job at a time per device, retention and disk budget
- ``worker_process`` — drives one worker process (events on stdout, process-group kill)
- ``worker``         — the per-job process (``python -m diffpaint.server.worker JOB_DIR``)
- ``sequence_worker``— a sequence job in that process: the frames fitted by ``diffpaint.batch``
- ``reconstructor``  — adapts the optimizer's callbacks to job outputs (progress, previews, levels)

A job runs in a child process rather than a thread: cancelling is a kill that always works (the
optimizer has no cancellation point inside a step), a crash or out-of-memory error in one job
cannot take the server down, and GPU/CPU memory goes back to the system after every job.
"""
