"""Fuzz the running server from its own published OpenAPI schema (schemathesis), with valid and
invalid inputs: no request may get a 5xx, invalid ones must be refused, and every answer must match
the schema (status codes, content types, headers, bodies).

Bounded: a few examples per operation, against a server with tight limits whose jobs would run
the stand-in worker (random bytes are never a decodable image, so no job really starts)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import positive_data_acceptance
from server_helpers import Server, running_server


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[Server]:
    with running_server("--max-upload-mb", "0.05", "--max-megapixels", "0.01", "--max-size", "32",
                        "--max-strokes", "8", "--max-iterations", "2", "--max-levels", "2",
                        "--max-rounds", "1", "--max-queued", "2") as s:
        yield s


def test_api_conforms_to_its_schema(fuzz_server: Server) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")
    headers = {"Authorization": f"Bearer {fuzz_server.token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/jobs", "/jobs/{job_id}", "/jobs/{job_id}/preview", "/info"}
    for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
        for operation in operations:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                      database=None)
            def fuzz(case: schemathesis.Case) -> None:
                # Random bytes in a valid form are schema-valid yet no image: a 422 is right for them.
                case.call_and_validate(base_url=fuzz_server.url, headers=headers,
                                       excluded_checks=[positive_data_acceptance])

            try:
                fuzz()
            except Unsatisfiable:  # nothing to make invalid (e.g. /health takes no input)
                assert mode is schemathesis.GenerationMode.NEGATIVE
